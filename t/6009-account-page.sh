#!/bin/sh
# The account page of elp-auth (/realms/e-learning-platform/account) in
# headless Chromium (t/helper/account-browser.py): without a session it
# sends the browser to the login form and back; then the names are
# changed, the sessions listed with their clients, times and address,
# another session (a password-grant login) signed out, which revokes its
# refresh token, and the password changed (the current one is checked).
# With curl: the page's security headers, and posts with a missing or
# wrong CSRF token refused with a 403 page (the right one works).
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
TOKEN=$ISS/protocol/openid-connect/token
PW='Secr3t#pass'
NEWPW='N3w#passw0rd'
BROWSER_PYTHON=${BROWSER_PYTHON:-/usr/bin/python3}

auth_sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_auth -N -B -e "$1"
}

pwgrant() {	# pwgrant USER PASSWORD: status of the password grant
	http POST "$TOKEN" -d grant_type=password -d client_id=admin-cli \
	    -d scope=openid --data-urlencode "username=$1" \
	    --data-urlencode "password=$2"
}

live() {	# live: the account's sessions not ended
	auth_sql "SELECT COUNT(*) FROM sso_session WHERE ended = 0 AND account_id = '$(cat "$T/carol.id")'"
}

# acct [curl args...]: the account page with the browser's session
# cookie; body to $T/page, headers to $T/h; prints the status.
acct() {
	curl -s -o "$T/page" -D "$T/h" -w '%{http_code}' --max-time 20 \
	    -b "ELP_SESSION=$(cat "$T/cookie")" "$@" "$ISS/account"
}

test_expect_success 'Chromium, chromedriver and selenium are installed' '
	command -v chromium >/dev/null && test -x /usr/bin/chromedriver &&
	"$BROWSER_PYTHON" -c "import selenium"
'

test_expect_success 'start MariaDB, elp-auth and the gateway; an account' '
	db_up && auth_up && gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email carol@example.com --first Carol --last C \
	    --role USER >"$T/carol.id"
'

test_expect_success 'without a session the page redirects to the login form' '
	s=$(curl -s -o /dev/null -D "$T/h" -w "%{http_code}" "$ISS/account") &&
	expect_eq "$s" 302 &&
	grep -qi "^location: $ISS/protocol/openid-connect/auth?response_type=code&client_id=account-console&redirect_uri=http%3A%2F%2F127.0.0.1%3A$IDP_PORT%2Frealms%2Fe-learning-platform%2Faccount&" "$T/h"
'

test_expect_success 'another session of the account (password grant)' '
	s=$(pwgrant carol@example.com "$PW") && expect_eq "$s" 200 &&
	json j[\"refresh_token\"] >"$T/rt-other"
'

test_expect_success 'in Chromium: log in, change names, list sessions, sign out of the other, change the password' '
	"$BROWSER_PYTHON" "$ROOT/t/helper/account-browser.py" "$ISS" \
	    carol@example.com "$PW" "$NEWPW" >"$T/browser.out" 2>"$T/browser.err" ||
	{ cat "$T/browser.out" "$T/browser.err" >&2; false; } &&
	for s in login-redirect login names sessions signout-other password-wrong password; do
		grep -q -x "ok $s" "$T/browser.out" || return 1
	done &&
	sed -n "s/^cookie //p" "$T/browser.out" >"$T/cookie" &&
	test -s "$T/cookie"
'

test_expect_success 'the names are stored; the other session and its refresh token are gone' '
	expect_eq "$(auth_sql "SELECT first_name, last_name FROM account WHERE email = '\''carol@example.com'\''" | tr "\t" " ")" "Caroline Doe-Smith" &&
	s=$(http POST "$TOKEN" -d grant_type=refresh_token -d client_id=admin-cli \
	    --data-urlencode "refresh_token=$(cat "$T/rt-other")") &&
	expect_eq "$s" 400 && expect_eq "$(json j[\"error\"])" invalid_grant &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM sso_session WHERE ended = 0 AND account_id = '\''$(cat "$T/carol.id")'\''")" 1
'

test_expect_success 'the new password works, the old one does not' '
	s=$(pwgrant carol@example.com "$PW") && expect_eq "$s" 400 &&
	s=$(pwgrant carol@example.com "$NEWPW") && expect_eq "$s" 200
'

test_expect_success 'the page carries the security headers of the login page' '
	s=$(acct) && expect_eq "$s" 200 &&
	grep -qi "^content-security-policy: default-src .none.; style-src .unsafe-inline.; frame-src .self.; frame-ancestors .self." "$T/h" &&
	grep -qi "^x-frame-options: SAMEORIGIN" "$T/h" &&
	grep -qi "^x-content-type-options: nosniff" "$T/h" &&
	grep -qi "^cache-control: no-store" "$T/h" &&
	grep -qi "^referrer-policy: no-referrer" "$T/h" &&
	test "$(grep -o "name=\"csrf\"" "$T/page" | wc -l)" -ge 4
'

test_expect_success 'a post without or with a wrong CSRF token gets the 403 page and changes nothing' '
	n=$(live) &&
	s=$(acct --data-urlencode action=profile --data-urlencode firstName=Evil \
	    --data-urlencode lastName=Evil) &&
	expect_eq "$s" 403 && grep -q "Page expired" "$T/page" &&
	grep -qi "^content-security-policy:" "$T/h" &&
	s=$(acct --data-urlencode csrf=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
	    --data-urlencode action=profile --data-urlencode firstName=Evil \
	    --data-urlencode lastName=Evil) &&
	expect_eq "$s" 403 &&
	s=$(acct --data-urlencode action=signout-all) && expect_eq "$s" 403 &&
	expect_eq "$(auth_sql "SELECT first_name FROM account WHERE email = '\''carol@example.com'\''")" Caroline &&
	expect_eq "$(live)" "$n"
'

test_expect_success 'a post without a session is refused too; the right token works' '
	s=$(curl -s -o "$T/page" -w "%{http_code}" --data-urlencode action=signout-all "$ISS/account") &&
	expect_eq "$s" 403 &&
	acct >/dev/null &&
	c=$(sed -n "s/.*name=\"csrf\" value=\"\([^\"]*\)\".*/\1/p" "$T/page") &&
	s=$(acct --data-urlencode "csrf=$c" --data-urlencode action=profile \
	    --data-urlencode firstName=Carol --data-urlencode lastName=C) &&
	expect_eq "$s" 302 &&
	expect_eq "$(auth_sql "SELECT first_name FROM account WHERE email = '\''carol@example.com'\''")" Carol
'

test_expect_success 'signing out of all sessions ends the browser session' '
	acct >/dev/null &&
	c=$(sed -n "s/.*name=\"csrf\" value=\"\([^\"]*\)\".*/\1/p" "$T/page") &&
	s=$(acct --data-urlencode "csrf=$c" --data-urlencode action=signout-all) &&
	expect_eq "$s" 200 && grep -q "Signed out" "$T/page" &&
	s=$(acct) && expect_eq "$s" 302 &&
	expect_eq "$(auth_sql "SELECT COUNT(*) FROM sso_session WHERE ended = 0 AND account_id = '\''$(cat "$T/carol.id")'\''")" 0
'

test_done
