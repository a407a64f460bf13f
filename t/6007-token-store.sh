#!/bin/sh
# Token store integrity in elp-auth, through the gateway and elp-user:
# a replayed refresh token revokes its family, also when two refreshes of
# the same token race (exactly one wins); a refresh token presented by
# another client is refused and stays valid; a password change (self with
# currentPassword or a recent sign-in, or an ADMIN reset) ends the other
# sessions and refresh tokens but keeps the caller's session; offline
# refresh tokens end at lifetimes/@offline-max whatever their idle time.
. "$(dirname "$0")/lib.sh"

AUTH_LIFETIMES_ATTRS='offline-max="8s"'
AUTH_PASSWORD_ATTRS='recent-auth="5s"'
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
ADMIN_BASE=http://127.0.0.1:$ADMIN_PORT
A=http://127.0.0.1:$API_PORT/user-management-api
PW='Secr3t#pass'
PW2='N3w-secret!'
PW3='Th1rd-secret!'
PW4='F0urth-secret!'

oidc() {
	python3 "$ROOT/t/helper/oidc.py" "$ISS" "$@" >"$T/body"
}

# refresh CLIENT TOKEN: status of a refresh; the new token in $T/rt.new.
refresh() {
	oidc token grant_type=refresh_token "client_id=$1" "refresh_token=$2" &&
	json 'j["body"].get("refresh_token", "")' >"$T/rt.new" &&
	json 'j["status"]'
}

# pwlogin USER PASSWORD [SCOPE]: status of an admin-cli password grant;
# access and refresh token in $T/at.pw, $T/rt.pw.
pwlogin() {
	oidc token grant_type=password client_id=admin-cli "username=$1" \
	    "password=$2" ${3:+"scope=$3"} &&
	json 'j["body"].get("access_token", "")' >"$T/at.pw" &&
	json 'j["body"].get("refresh_token", "")' >"$T/rt.pw" &&
	json 'j["status"]'
}

# browser JAR PASSWORD: code flow for ada without offline_access (tokens
# bound to the browser session); tokens in $T/JAR.at, $T/JAR.rt.
browser() {
	oidc flow "$T/$1" ada@example.com "$2" "scope=openid profile email" &&
	expect_eq "$(json "j[\"token\"][\"status\"]")" 200 &&
	json "j[\"token\"][\"body\"][\"access_token\"]" >"$T/$1.at" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/$1.rt"
}

# sso JAR: status of an authorization request with the jar's cookies
# (302: the SSO session lives; 200: the login form).
sso() {
	oidc authorize "$T/$1" && json 'j["status"]'
}

# chpw TOKEN BODY: POST /user-management-api/password; status.
chpw() {
	http POST "$A/password" -H "Authorization: Bearer $1" \
	    -H "Content-Type: application/json" -d "$2"
}

msg() {
	json 'j["errorBody"]["errorMessage"] if "errorBody" in j else j["responseBody"]["message"]'
}

user_conf() {	# user_conf NAME SOCKET
	cat >"$T/conf/services/$1.xml" <<XML
<service name="user">
  <log level="info"/>
  <pool listen="unix:$2" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_user"
            user="elp_user" password-file="$T/var/secrets/db-user.pw"
            connect-timeout="1s" timeout="3s"/>
  <auth jwks-url="$ADMIN_BASE/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="$ISS" audience="elp-api" refresh-min="1s"/>
  <idp base-url="$ADMIN_BASE" realm="e-learning-platform" client-id="elp-user"
       secret-file="$T/var/secrets/auth-elp-user.secret" timeout="3s"/>
</service>
XML
}

test_expect_success 'start MariaDB, elp-auth, elp-user and the gateway' '
	db_up && auth_up &&
	user_conf user "$T/run/user.sock" &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/user-management-api\" service=\"user\" rewrite=\"/user\"/>" \
	SERVICES_EXTRA="  <service name=\"auth\">
    <instance address=\"unix:$T/run/auth.sock\" maxconn=\"2\"/>
  </service>
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	for u in ada:USER root:ADMIN; do
		printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
		    create-user --email "${u%%:*}@example.com" --first A --last B \
		    --role "${u#*:}" >"$T/${u%%:*}.id" || return 1
	done
'
ADA_JSON='"userId":"'"$(cat "$T/ada.id" 2>/dev/null)"'"'

test_expect_success 'a replayed refresh token revokes the whole family' '
	browser jar1 "$PW" &&
	expect_eq "$(refresh spa-client "$(cat "$T/jar1.rt")")" 200 &&
	cp "$T/rt.new" "$T/rt2" &&
	expect_eq "$(refresh spa-client "$(cat "$T/jar1.rt")")" 400 &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	expect_eq "$(refresh spa-client "$(cat "$T/rt2")")" 400 &&
	loggrep auth.log "refresh token reused from 127.0.0.1; refresh-token family"
'

test_expect_success 'two simultaneous refreshes of one token: exactly one wins, the family is revoked' '
	for round in 1 2 3; do
		browser "race$round" "$PW" &&
		python3 - "$ISS" "$(cat "$T/race$round.rt")" >"$T/body" <<-\PY || return 1
		import json, sys, threading, urllib.parse, urllib.request
		url = sys.argv[1] + "/protocol/openid-connect/token"
		body = urllib.parse.urlencode({"grant_type": "refresh_token",
		    "client_id": "spa-client", "refresh_token": sys.argv[2]}).encode()
		out = []
		go = threading.Barrier(2)
		def one():
		    go.wait()
		    try:
		        r = urllib.request.urlopen(url, body, timeout=20)
		        out.append((r.status, json.load(r)["refresh_token"]))
		    except urllib.error.HTTPError as e:
		        out.append((e.code, None))
		t = [threading.Thread(target=one) for _ in range(2)]
		[x.start() for x in t]
		[x.join() for x in t]
		print(json.dumps(sorted(out, key=lambda x: x[0])))
		PY
		expect_eq "$(json "[x[0] for x in j]")" "[200, 400]" &&
		expect_eq "$(refresh spa-client "$(json "j[0][1]")")" 400 || return 1
	done
'

test_expect_success 'a refresh token presented by another client is refused and stays valid' '
	expect_eq "$(pwlogin ada@example.com "$PW")" 200 &&
	expect_eq "$(refresh spa-client "$(cat "$T/rt.pw")")" 400 &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	loggrep auth.log "refresh token of client admin-cli presented by client spa-client" &&
	expect_eq "$(refresh admin-cli "$(cat "$T/rt.pw")")" 200
'

test_expect_success 'self change with a recent sign-in: other sessions end, the current one stays' '
	browser jarB "$PW" &&
	expect_eq "$(pwlogin ada@example.com "$PW")" 200 && cp "$T/rt.pw" "$T/rtC" &&
	browser jarA "$PW" &&
	expect_eq "$(chpw "$(cat "$T/jarA.at")" "{$ADA_JSON,\"password\":\"$PW2\"}")" 200 &&
	expect_eq "$(msg)" "Successfully updated password" &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarA.rt")")" 200 &&
	cp "$T/rt.new" "$T/jarA.rt" &&
	expect_eq "$(sso jarA)" 302 &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarB.rt")")" 400 &&
	expect_eq "$(sso jarB)" 200 &&
	expect_eq "$(refresh admin-cli "$(cat "$T/rtC")")" 400 &&
	expect_eq "$(pwlogin ada@example.com "$PW")" 400 &&
	expect_eq "$(pwlogin ada@example.com "$PW2")" 200
'

test_expect_success 'self change after recent-auth needs currentPassword; offline tokens end at offline-max' '
	expect_eq "$(pwlogin ada@example.com "$PW2" "openid offline_access")" 200 &&
	cp "$T/rt.pw" "$T/rtO" &&
	expect_eq "$(json "j[\"body\"][\"refresh_expires_in\"] <= 8")" true &&
	sleep 6 &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarA.rt")")" 200 &&
	cp "$T/rt.new" "$T/jarA.rt" &&
	json "j[\"body\"][\"access_token\"]" >"$T/jarA.at" &&
	expect_eq "$(chpw "$(cat "$T/jarA.at")" "{$ADA_JSON,\"password\":\"$PW3\"}")" 417 &&
	msg | grep -q "current password is required" &&
	expect_eq "$(chpw "$(cat "$T/jarA.at")" "{$ADA_JSON,\"password\":\"$PW3\",\"currentPassword\":\"Wr0ng-secret!\"}")" 417 &&
	msg | grep -q "current password is incorrect" &&
	expect_eq "$(chpw "$(cat "$T/jarA.at")" "{$ADA_JSON,\"password\":\"$PW3\",\"currentPassword\":\"$PW2\"}")" 200 &&
	expect_eq "$(refresh admin-cli "$(cat "$T/rtO")")" 400 &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarA.rt")")" 200 &&
	cp "$T/rt.new" "$T/jarA.rt" &&
	# The family starts between t0 and t1 (ms): refreshes while it is
	# surely younger than 5 s of its 8 must work, one when it is surely
	# older than 8 s must not (a loaded machine shifts both, not them).
	t0=$(date +%s%3N) &&
	expect_eq "$(pwlogin ada@example.com "$PW3" "openid offline_access")" 200 &&
	t1=$(date +%s%3N) &&
	cp "$T/rt.pw" "$T/rtO" &&
	expect_eq "$(refresh admin-cli "$(cat "$T/rtO")")" 200 &&
	cp "$T/rt.new" "$T/rtO" &&
	while test $(($(date +%s%3N) - t0)) -lt 5000; do
		expect_eq "$(refresh admin-cli "$(cat "$T/rtO")")" 200 || return 1
		cp "$T/rt.new" "$T/rtO"
		expect_eq "$(json "j[\"body\"][\"refresh_expires_in\"] <= 8")" true || return 1
		sleep 1
	done &&
	while test $(($(date +%s%3N) - t1)) -lt 8500; do sleep 0.2; done &&
	expect_eq "$(refresh admin-cli "$(cat "$T/rtO")")" 400
'

test_expect_success 'an ADMIN reset ends every session of the account' '
	browser jarD "$PW3" &&
	expect_eq "$(pwlogin root@example.com "$PW")" 200 &&
	expect_eq "$(chpw "$(cat "$T/at.pw")" "{$ADA_JSON,\"password\":\"$PW4\"}")" 200 &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarD.rt")")" 400 &&
	expect_eq "$(refresh spa-client "$(cat "$T/jarA.rt")")" 400 &&
	expect_eq "$(sso jarD)" 200 &&
	expect_eq "$(pwlogin ada@example.com "$PW4")" 200 &&
	loggrep auth.log "password of user $(cat "$T/ada.id") changed: [0-9]+ refresh token\\(s\\) revoked"
'

test_done
