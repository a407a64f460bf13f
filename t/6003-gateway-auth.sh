#!/bin/sh
# Bearer tokens at the gateway, with real tokens from elp-auth: public
# routes pass a valid token's claims on and ignore a bad one; protected
# routes answer 401 (with WWW-Authenticate) or 403; claims reach the app as
# AUTH_* params that no client header can set; a rotated signing key is
# picked up through a JWKS refetch on the unknown kid.
. "$(dirname "$0")/lib.sh"

AUTH_ACCESS=10s
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'

create_user() {	# create_user EMAIL ROLE
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role "$2"
}

token() {	# token EMAIL: an access token from the password grant
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

test_expect_success 'start MariaDB, elp-auth, fcgi-echo and the gateway' '
	db_up && auth_up && echo_up echo 2 &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/pub\" service=\"echo\" rewrite=\"/\"/>
  <route listen=\"api\" prefix=\"/tok\" service=\"echo\" rewrite=\"/\" auth=\"token\"/>
  <route listen=\"api\" prefix=\"/adm\" service=\"echo\" rewrite=\"/\" auth=\"ADMIN\"/>
  <route listen=\"api\" prefix=\"/any\" service=\"echo\" rewrite=\"/\" auth=\"ADMIN,USER\"/>" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\" leeway=\"0s\" refresh-min=\"1s\"/>" \
	gateway_up &&
	create_user user@example.com USER >"$T/user.id" &&
	create_user admin@example.com ADMIN >"$T/admin.id"
'
A=http://127.0.0.1:$API_PORT

test_expect_success 'public route: no token, anonymous' '
	expect_eq "$(http GET "$A/pub/whoami")" 200 &&
	expect_eq "$(json "\"AUTH_SUB\" in j[\"responseBody\"]")" false
'

test_expect_success 'public route: a bad token is ignored, not refused' '
	expect_eq "$(http GET "$A/pub/whoami" -H "Authorization: Bearer not.a.token")" 200 &&
	expect_eq "$(json "\"AUTH_SUB\" in j[\"responseBody\"]")" false
'

test_expect_success 'public route: a valid token passes its claims on' '
	t=$(token user@example.com) &&
	expect_eq "$(http GET "$A/pub/whoami" -H "Authorization: Bearer $t")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_SUB\"]")" "$(cat "$T/user.id")" &&
	json "j[\"responseBody\"][\"AUTH_ROLES\"]" | grep -q "USER" &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_EMAIL\"]")" user@example.com
'

test_expect_success 'protected route without a token: 401 envelope and WWW-Authenticate' '
	expect_eq "$(http GET "$A/tok/whoami")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Missing access token" &&
	grep -qi "^www-authenticate: Bearer" "$T/headers" &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Basic dTpw")" 401
'

test_expect_success 'protected route: a tampered token is 401 invalid_token' '
	t=$(token user@example.com) &&
	bad=$(printf "%s" "$t" | python3 -c "import sys; t=sys.stdin.read(); print(t[:-4] + (\"AAAA\" if t[-4:] != \"AAAA\" else \"BBBB\"))") &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $bad")" 401 &&
	grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" "$T/headers"
'

test_expect_success 'protected route: an expired token is 401 "Access token expired"' '
	t=$(token user@example.com) &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $t")" 200 &&
	sleep 11 &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $t")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Access token expired"
'

test_expect_success 'role routes: USER gets 403 on ADMIN, both pass ADMIN,USER' '
	tu=$(token user@example.com) && ta=$(token admin@example.com) &&
	expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $tu")" 403 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Access Denied" &&
	expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $ta")" 200 &&
	expect_eq "$(http GET "$A/any/whoami" -H "Authorization: Bearer $tu")" 200 &&
	expect_eq "$(http GET "$A/any/whoami" -H "Authorization: Bearer $ta")" 200
'

test_expect_success 'a client cannot set the identity params through headers' '
	t=$(token user@example.com) &&
	http GET "$A/pub/whoami" -H "Auth-Sub: 00000000-0000-4000-8000-000000000000" \
	    -H "Authorization: Bearer $t" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_SUB\"]")" "$(cat "$T/user.id")" &&
	http GET "$A/pub/whoami" -H "Auth-Sub: 00000000-0000-4000-8000-000000000000" >/dev/null &&
	expect_eq "$(json "\"AUTH_SUB\" in j[\"responseBody\"]")" false
'

test_expect_success 'after a key rotation, tokens with the new kid are accepted' '
	"$BIN/elp-auth" -c "$T/conf/services/auth.xml" rotate-keys >"$T/rot" 2>&1 &&
	kill -HUP $pid_auth && sleep 2 &&
	t=$(token admin@example.com) &&
	expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $t")" 200 &&
	loggrep gateway.log "JWKS refreshed: 2 keys"
'

test_done
