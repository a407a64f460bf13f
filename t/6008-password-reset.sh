#!/bin/sh
# Forgot password and e-mail verification of elp-auth with a real SMTP
# server (t/helper/smtp-sink.py): the login page links to the form; a
# known address gets one mail whose link sets a new password once (a
# second use fails with a clear page), revokes the old refresh tokens and
# the old password; an unknown address gets the same page and no mail;
# posts without the form's CSRF token are refused; the per-address limit
# holds; a link expires after the configured lifetime. With
# verify-email="yes": an account created through the admin API gets a
# verification mail and cannot log in (form or password grant) until its
# link was followed. -t refuses verify-email without <smtp>.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
TOKEN=$ISS/protocol/openid-connect/token
ADMIN=http://127.0.0.1:$ADMIN_PORT/admin/realms/e-learning-platform
PW='Secr3t#pass'
NEWPW='N3w#passw0rd'
JAR=$T/jar
AUTH_MAIL="<smtp url='smtp://127.0.0.1:$SMTP_PORT/test.localhost' tls='none'
        from='noreply@elp.test' from-name='E-Learning Platform'
        message-id-domain='elp.test' connect-timeout='1s' timeout='5s'/>
  <outbox poll='100ms' lease='6s' max-attempts='5' backoff-base='200ms'
          backoff-max='1s'/>"
AUTH_ACCOUNT="<account mails-per-address='3' mails-per-account='10'/>"

# page [curl args...] URL: GET or POST with the cookie jar; body to
# $T/page; prints the status.
page() {
	curl -s -b "$JAR" -c "$JAR" -o "$T/page" -w '%{http_code}' \
	    --max-time 20 "$@"
}

# csrf: the CSRF token of the form in $T/page.
csrf() {
	sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' "$T/page"
}

# has TEXT: $T/page contains TEXT.
has() {
	grep -q -F -- "$1" "$T/page" || {
		printf 'page lacks [%s]:\n' "$1" >&2
		sed 's/<[^>]*>/ /g' "$T/page" | head -c 600 >&2
		return 1
	}
}

nmails() {
	ls "$T"/mail/*.eml 2>/dev/null | wc -l
}

mails_ge() {	# mails_ge N: at least N mails stored
	[ "$(nmails)" -ge "$1" ]
}

sql_is() {	# sql_is SQL VALUE: the query answers VALUE
	[ "$(auth_sql "$1")" = "$2" ]
}

# link N: the link of the Nth stored mail.
link() {
	python3 "$ROOT/t/helper/maillink.py" "$(ls "$T"/mail/*.eml | sed -n "$1p")"
}

mailto() {
	python3 "$ROOT/t/helper/maillink.py" "$(ls "$T"/mail/*.eml | sed -n "$1p")" --to
}

auth_sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_auth -N -B -e "$1"
}

# ask ADDRESS: posts the forgot-password form for ADDRESS.
ask() {
	page "$ISS/login-actions/reset-credentials" >/dev/null &&
	c=$(csrf) &&
	page --data-urlencode "csrf=$c" --data-urlencode "username=$1" \
	    "$ISS/login-actions/reset-credentials"
}

# setpw KEYLINK PW1 PW2: posts the new-password form of link KEYLINK
# (its form must be in $T/page).
setpw() {
	c=$(csrf)
	if [ -n "$c" ]; then echo "$c" >"$T/lastcsrf"; else c=$(cat "$T/lastcsrf"); fi

	k=${1#*key=} &&
	page --data-urlencode "csrf=$c" --data-urlencode "key=$k" \
	    --data-urlencode "password-new=$2" \
	    --data-urlencode "password-confirm=$3" \
	    "$ISS/login-actions/action-token"
}

pwgrant() {	# pwgrant USER PASSWORD: status of the password grant
	http POST "$TOKEN" -d grant_type=password -d client_id=admin-cli \
	    -d scope=openid --data-urlencode "username=$1" \
	    --data-urlencode "password=$2"
}

auth_restart() {
	stop_pid "$pid_auth" &&
	auth_conf auth "$T/run/auth.sock" &&
	spawn auth "$BIN/elp-auth" -c "$T/conf/services/auth.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/health/auth"
}

test_expect_success 'start MariaDB, the SMTP sink, elp-auth and the gateway' '
	db_up && smtp_up && auth_up && gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email alice@example.com --first Alice --last A \
	    --role USER >"$T/alice.id"
'

test_expect_success 'the login page links to the forgot-password form' '
	s=$(page "$ISS/protocol/openid-connect/auth?client_id=spa-client&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A4200%2Fgeneral%2Fcallback&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256") &&
	expect_eq "$s" 200 &&
	has "href=\"/realms/e-learning-platform/login-actions/reset-credentials\"" &&
	s=$(page -D "$T/h" "$ISS/login-actions/reset-credentials") &&
	expect_eq "$s" 200 && has "Forgot your password?" &&
	test -n "$(csrf)" &&
	grep -qi "^content-security-policy: default-src .none." "$T/h" &&
	grep -qi "^x-frame-options: SAMEORIGIN" "$T/h"
'

test_expect_success 'a refresh token of the old password' '
	s=$(pwgrant alice@example.com "$PW") && expect_eq "$s" 200 &&
	json j[\"refresh_token\"] >"$T/rt1"
'

test_expect_success 'a known and an unknown address get the same page; one mail, to the known one' '
	s=$(ask alice@example.com) && expect_eq "$s" 200 &&
	cp "$T/page" "$T/known" &&
	s=$(ask nobody@example.com) && expect_eq "$s" 200 &&
	cmp "$T/known" "$T/page" && has "If an account exists" &&
	wait_for mails_ge 1 &&
	expect_eq "$(mailto 1)" alice@example.com &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM mail_outbox")" 1 &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM action_token WHERE kind = '\''reset'\''")" 1 &&
	link 1 >"$T/link1" && grep -q "^$ISS/login-actions/action-token?key=" "$T/link1"
'

test_expect_success 'only the hash of the link is stored; the sent body is cleared' '
	k=$(sed "s/.*key=//" "$T/link1") &&
	h=$(printf %s "$k" | sha256sum | cut -d" " -f1) &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM action_token WHERE token_hash = '\''$h'\''")" 1 &&
	! auth_sql "SELECT token_hash FROM action_token" | grep -q -F "$k" &&
	wait_for sql_is "SELECT COUNT(*) FROM mail_outbox WHERE state = '\''sent'\'' AND body IS NULL" 1
'

test_expect_success 'a post without or with a wrong CSRF token is refused (403)' '
	s=$(page --data-urlencode "username=alice@example.com" "$ISS/login-actions/reset-credentials") &&
	expect_eq "$s" 403 && has "Page expired" &&
	s=$(page --data-urlencode "csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	    --data-urlencode "username=alice@example.com" "$ISS/login-actions/reset-credentials") &&
	expect_eq "$s" 403
'

test_expect_success 'the link shows the form; a bad password is refused without using it' '
	s=$(page "$(cat "$T/link1")") && expect_eq "$s" 200 &&
	has "Choose a new password" &&
	s=$(setpw "$(cat "$T/link1")" "$NEWPW" "other") && expect_eq "$s" 200 &&
	has "The two passwords differ" &&
	s=$(setpw "$(cat "$T/link1")" short short) && expect_eq "$s" 200 &&
	has "class=\"error\""
'

test_expect_success 'the link sets the new password once; a second use fails clearly' '
	page "$(cat "$T/link1")" >/dev/null &&
	s=$(setpw "$(cat "$T/link1")" "$NEWPW" "$NEWPW") && expect_eq "$s" 200 &&
	has "Password updated" &&
	page "$(cat "$T/link1")" >/dev/null &&
	s=$(page "$(cat "$T/link1")") && expect_eq "$s" 400 &&
	has "Link already used" &&
	s=$(setpw "$(cat "$T/link1")" "$NEWPW" "$NEWPW") && expect_eq "$s" 400 &&
	has "Link already used"
'

test_expect_success 'after the reset the old refresh token and password are refused' '
	s=$(http POST "$TOKEN" -d grant_type=refresh_token -d client_id=admin-cli \
	    --data-urlencode "refresh_token=$(cat "$T/rt1")") &&
	expect_eq "$s" 400 && expect_eq "$(json j[\"error\"])" invalid_grant &&
	s=$(pwgrant alice@example.com "$PW") && expect_eq "$s" 400 &&
	s=$(pwgrant alice@example.com "$NEWPW") && expect_eq "$s" 200 &&
	loggrep auth.log "password of account .* reset by mailed link"
'

test_expect_success 'the per-address limit (3 per window) stops further mails' '
	ask alice@example.com >/dev/null && ask alice@example.com >/dev/null &&
	s=$(ask alice@example.com) && expect_eq "$s" 200 && has "If an account exists" &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM mail_outbox WHERE rcpt = '\''alice@example.com'\''")" 3 &&
	loggrep auth.log "reset mail for account .* not sent: limit" &&
	wait_for mails_ge 3
'

test_expect_success '-t: verify-email needs <smtp>; the account client needs its redirect URI' '
	C=$T/conf/services &&
	sed -e "/<smtp /,/\/>/d" -e "/<outbox /,/\/>/d" \
	    -e "s|<account |<account verify-email=\"yes\" |" \
	    "$C/auth.xml" >"$C/bad1.xml" &&
	! "$BIN/elp-auth" -t -c "$C/bad1.xml" 2>"$T/err1" &&
	grep -q "bad1.xml:[0-9]*: account verify-email=\"yes\" needs <smtp>" "$T/err1" &&
	sed "s|/realms/e-learning-platform/account\"|/elsewhere\"|" \
	    "$C/auth.xml" >"$C/bad2.xml" &&
	! "$BIN/elp-auth" -t -c "$C/bad2.xml" 2>"$T/err2" &&
	grep -q "bad2.xml:[0-9]*: account client account-console must have" "$T/err2" &&
	"$BIN/elp-auth" -t -c "$T/conf/services/auth.xml"
'

test_expect_success 'restart elp-auth with verify-email="yes" and a 3 s reset-lifetime' '
	AUTH_ACCOUNT="<account verify-email=\"yes\" reset-lifetime=\"3s\" mails-per-address=\"10\"/>" &&
	auth_restart
'

test_expect_success 'a reset link expires after the configured lifetime' '
	n=$(nmails) &&
	auth_sql "DELETE FROM mail_outbox" &&
	s=$(ask alice@example.com) && expect_eq "$s" 200 &&
	wait_for mails_ge $((n + 1)) &&
	link $((n + 1)) >"$T/link2" &&
	expect_eq "$(auth_sql "SELECT TIMESTAMPDIFF(SECOND, created_at, expires_at) FROM action_token ORDER BY created_at DESC LIMIT 1")" 3 &&
	wait_for sh -c "curl -s \"\$(cat $T/link2)\" | grep -q \"Link expired\"" &&
	s=$(page "$(cat "$T/link2")") && expect_eq "$s" 400 && has "Link expired"
'

test_expect_success 'verification on: a new account gets a mail and cannot log in' '
	tok=$(svc_token elp-user) &&
	s=$(http POST "$ADMIN/users" -H "Authorization: Bearer $tok" \
	    -H "Content-Type: application/json" \
	    --data-binary "{\"email\":\"bob@example.com\",\"firstName\":\"Bob\",\"lastName\":\"B\",\"password\":\"$PW\",\"role\":\"USER\"}") &&
	expect_eq "$s" 201 &&
	n=$(nmails) &&
	wait_for sh -c "ls $T/mail/*.eml | xargs grep -l -i \"^To: <bob@example.com>\"" &&
	f=$(grep -l -i "^To: <bob@example.com>" "$T"/mail/*.eml | head -n 1) &&
	python3 "$ROOT/t/helper/maillink.py" "$f" >"$T/vlink" &&
	grep -q "Verify your e-mail address" "$f" &&
	s=$(pwgrant bob@example.com "$PW") && expect_eq "$s" 400 &&
	expect_eq "$(json j[\"error_description\"])" "Account is not fully set up"
'

test_expect_success 'the login form shows a clear page with a link to send the mail again' '
	rm -f "$JAR" &&
	page "$ISS/protocol/openid-connect/auth?client_id=spa-client&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A4200%2Fgeneral%2Fcallback&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256" >/dev/null &&
	a=$(sed -n "s/.*name=\"attempt\" value=\"\([^\"]*\)\".*/\1/p" "$T/page") &&
	c=$(csrf) &&
	s=$(page --data-urlencode "attempt=$a" --data-urlencode "csrf=$c" \
	    --data-urlencode "username=bob@example.com" --data-urlencode "password=$PW" \
	    "$ISS/login-actions/authenticate") &&
	expect_eq "$s" 403 && has "Verify your e-mail address" &&
	has "login-actions/verify-email" &&
	! grep -q "ELP_SESSION=[A-Za-z0-9_-]" "$JAR"
'

test_expect_success 'asking again sends another verification mail' '
	n=$(nmails) &&
	page "$ISS/login-actions/verify-email" >/dev/null && c=$(csrf) &&
	s=$(page --data-urlencode "csrf=$c" --data-urlencode "username=bob@example.com" \
	    "$ISS/login-actions/verify-email") && expect_eq "$s" 200 &&
	wait_for mails_ge $((n + 1))
'

test_expect_success 'the verification link activates the account, once' '
	s=$(page "$(cat "$T/vlink")") && expect_eq "$s" 200 &&
	has "E-mail address verified" &&
	s=$(pwgrant bob@example.com "$PW") && expect_eq "$s" 200 &&
	s=$(page "$(cat "$T/vlink")") && expect_eq "$s" 400 &&
	has "Link already used" &&
	expect_eq "$(auth_sql "SELECT email_verified, verify_pending FROM account WHERE email = '\''bob@example.com'\''" | tr "\t" " ")" "1 0"
'

test_expect_success 'accounts from before the setting still log in' '
	s=$(pwgrant alice@example.com "$NEWPW") && expect_eq "$s" 200
'

test_done
