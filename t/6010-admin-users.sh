#!/bin/sh
# Account administration in elp-auth (real elp-auth, MariaDB and gateway):
# every operation through the admin API (Keycloak shapes: search and
# paging, disable/enable, role mappings, reset-password, logout, delete)
# and through the command line (scripts/auth users ...); per-operation
# roles (the elp-messaging token may list but not disable, reset or
# delete); a disabled account cannot log in and its refresh token stops
# working, also after it is enabled again; every admin action is in the
# audit trail (GET /audit and the audit command) with its actor and
# request id; logins and refused logins are login events with the reason
# (GET /events); no password ever is in either.
. "$(dirname "$0")/lib.sh"

PW='Secr3t#pass'
PW2='N3w-Passw0rd'
PW3='Th1rd-Passw0rd'
PW4='F0urth-Passw0rd'
TOKEN_URL=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/token
ADM=http://127.0.0.1:$ADMIN_PORT/admin/realms/e-learning-platform
CLI_ACTOR=cli:$(id -un)

# A client of this test only, for what no service holds: the audit
# trail and ending sessions.
AUTH_CLIENTS_EXTRA="    <client id='elp-ops' grants='client_credentials'
            secret-file='$T/var/secrets/auth-elp-ops.secret'
            roles='view-events manage-sessions'/>"

# call TOKENFILE METHOD PATH REQID [curl args]: an admin API call.
call() {
	tf=$1
	m=$2
	p=$3
	rid=$4
	shift 4
	http "$m" "$ADM$p" -H "Authorization: Bearer $(cat "$T/$tf")" \
	    -H "X-Request-Id: $rid" -H "Content-Type: application/json" "$@"
}

# login USER PASS: status of a password grant; the refresh token to
# $T/rt on success.
login() {
	s=$(curl -s -o "$T/body" -w '%{http_code}' -d grant_type=password \
	    -d client_id=admin-cli --data-urlencode "username=$1" \
	    --data-urlencode "password=$2" "$TOKEN_URL")
	[ "$s" != 200 ] || json "j[\"refresh_token\"]" >"$T/rt"
	echo "$s"
}

# refresh FILE: status of a refresh grant with the token in FILE.
refresh() {
	curl -s -o "$T/body" -w '%{http_code}' -d grant_type=refresh_token \
	    -d client_id=admin-cli --data-urlencode "refresh_token=$(cat "$1")" \
	    "$TOKEN_URL"
}

# cli ARGS...: scripts/auth against this test's elp-auth configuration;
# output in $T/out, prints the exit status.
cli() {
	ELP_VAR=$T/var ELP_AUTH_CONF=$T/conf/services/auth.xml ELP_BIN=$BIN \
	    "$ROOT/scripts/auth" "$@" >"$T/out" 2>"$T/err"
	echo $?
}

# event ACTION TARGET: the newest audit event of ACTION on TARGET from
# $T/audit (a GET /audit body), as JSON, or nothing.
event() {
	python3 -c 'import json, sys
for e in json.load(open(sys.argv[1])):
    if e["action"] == sys.argv[2] and e["target"] == sys.argv[3]:
        print(json.dumps(e)); break' "$T/audit" "$1" "$2"
}

# has_event ACTION TARGET ACTOR REQID: that event is in $T/audit.
has_event() {
	e=$(event "$1" "$2")
	[ -n "$e" ] || { echo "no $1 event for $2" >&2; return 1; }
	printf '%s' "$e" >"$T/body"
	expect_eq "$(json "j[\"actor\"]")" "$3" &&
	expect_eq "$(json "j[\"requestId\"]")" "$4"
}

test_expect_success 'start MariaDB, elp-auth and elp-gateway; service tokens' '
	mkdir -p "$T/var/secrets" &&
	(umask 077 && openssl rand -hex 24 >"$T/var/secrets/auth-elp-ops.secret") &&
	db_up &&
	auth_up &&
	gateway_up &&
	svc_token elp-user >"$T/usr" &&
	svc_token elp-messaging >"$T/msg" &&
	svc_token elp-ops >"$T/ops" &&
	test -s "$T/usr" && test -s "$T/msg" && test -s "$T/ops"
'

test_expect_success 'API: create accounts (manage-users), audited with actor and request id' '
	for u in alice carol dave; do
		expect_eq "$(call usr POST /users "t6010-create-$u" \
		    -d "{\"email\":\"$u@example.com\",\"firstName\":\"${u}name\",\"password\":\"$PW\",\"role\":\"USER\"}")" 201 ||
		    return 1
		json "j[\"id\"]" >"$T/id-$u" || return 1
	done
'

test_expect_success 'API: list and search with first and max (view-users)' '
	expect_eq "$(call msg GET "/users?search=ALICE" t6010-search)" 200 &&
	expect_eq "$(json "[u[\"id\"] for u in j]")" "[\"$(cat "$T/id-alice")\"]" &&
	expect_eq "$(json "sorted(j[0].keys())")" "[\"email\", \"enabled\", \"firstName\", \"id\", \"lastName\", \"username\"]" &&
	expect_eq "$(call msg GET "/users?max=2" t6010-list)" 200 &&
	expect_eq "$(json "[u[\"username\"] for u in j]")" "[\"alice@example.com\", \"carol@example.com\"]" &&
	expect_eq "$(call msg GET "/users?first=2&max=2" t6010-list)" 200 &&
	expect_eq "$(json "[u[\"username\"] for u in j]")" "[\"dave@example.com\"]" &&
	expect_eq "$(call msg GET "/users?search=example.com&first=1" t6010-list)" 200 &&
	expect_eq "$(json "len(j)")" 2 &&
	expect_eq "$(call msg GET "/users?search=%25" t6010-list)" 200 &&
	expect_eq "$(json "len(j)")" 0 &&
	expect_eq "$(call msg GET "/users?max=-1" t6010-list)" 400 &&
	expect_eq "$(call msg GET "/users/$(cat "$T/id-alice")" t6010-get)" 200 &&
	expect_eq "$(json "j[\"email\"]")" alice@example.com
'

test_expect_success 'per-operation roles: the messaging token is refused every change (403)' '
	a=$(cat "$T/id-alice") &&
	expect_eq "$(call msg PUT "/users/$a" t6010-msg-disable -d "{\"enabled\":false}")" 403 &&
	expect_eq "$(json "j[\"role\"]")" manage-users &&
	expect_eq "$(call msg PUT "/users/$a/reset-password" t6010-msg-reset -d "{\"type\":\"password\",\"value\":\"$PW2\"}")" 403 &&
	expect_eq "$(json "j[\"role\"]")" reset-passwords &&
	expect_eq "$(call msg DELETE "/users/$a" t6010-msg-delete)" 403 &&
	expect_eq "$(json "j[\"role\"]")" delete-users &&
	expect_eq "$(call msg POST "/users/$a/logout" t6010-msg-logout)" 403 &&
	expect_eq "$(call msg POST "/users/$a/role-mappings/realm" t6010-msg-roles -d "[{\"name\":\"ADMIN\"}]")" 403 &&
	expect_eq "$(call msg POST /users t6010-msg-create -d "{\"email\":\"eve@example.com\",\"role\":\"USER\"}")" 403 &&
	expect_eq "$(call msg GET /audit t6010-msg-audit)" 403 &&
	expect_eq "$(call usr GET /audit t6010-usr-audit)" 403 &&
	expect_eq "$(call usr POST "/users/$a/logout" t6010-usr-logout)" 403 &&
	expect_eq "$(call usr GET "/users/$a" t6010-get)" 200 &&
	expect_eq "$(json "j[\"enabled\"]")" true &&
	expect_eq "$(login alice@example.com "$PW")" 200
'

test_expect_success 'API: disable ends sessions; no login, the refresh token stops working, also once enabled again' '
	a=$(cat "$T/id-alice") &&
	cp "$T/rt" "$T/rt-alice" &&
	expect_eq "$(refresh "$T/rt-alice")" 200 &&
	json "j[\"refresh_token\"]" >"$T/rt-alice" &&
	expect_eq "$(call usr PUT "/users/$a" t6010-disable -d "{\"enabled\":false}")" 204 &&
	expect_eq "$(call usr GET "/users/$a" t6010-get)" 200 &&
	expect_eq "$(json "j[\"enabled\"]")" false &&
	expect_eq "$(login alice@example.com "$PW")" 400 &&
	expect_eq "$(refresh "$T/rt-alice")" 400 &&
	expect_eq "$(json "j[\"error\"]")" invalid_grant &&
	expect_eq "$(call usr PUT "/users/$a" t6010-enable -d "{\"enabled\":true}")" 204 &&
	expect_eq "$(refresh "$T/rt-alice")" 400 &&
	expect_eq "$(login alice@example.com "$PW")" 200 &&
	expect_eq "$(call usr PUT "/users/$a" t6010-bad -d "{\"enabled\":\"no\"}")" 400 &&
	loggrep auth.log "login refused: user \"alice@example.com\" is disabled"
'

test_expect_success 'API: realm role mappings (manage-users); the admin roles cannot be granted' '
	a=$(cat "$T/id-alice") &&
	expect_eq "$(call usr POST "/users/$a/role-mappings/realm" t6010-grant -d "[{\"name\":\"ADMIN\"}]")" 204 &&
	expect_eq "$(call msg GET "/users/$a/role-mappings/realm" t6010-roles)" 200 &&
	expect_eq "$(json "sorted(r[\"name\"] for r in j)")" "[\"ADMIN\", \"USER\", \"offline_access\"]" &&
	expect_eq "$(call usr DELETE "/users/$a/role-mappings/realm" t6010-revoke -d "[{\"name\":\"USER\"}]")" 204 &&
	expect_eq "$(call usr GET "/users/$a" t6010-get)" 200 &&
	expect_eq "$(json "sorted(j[\"realmRoles\"])")" "[\"ADMIN\", \"offline_access\"]" &&
	expect_eq "$(call usr POST "/users/$a/role-mappings/realm" t6010-bad -d "[{\"name\":\"admin-service\"}]")" 400 &&
	expect_eq "$(call usr POST "/users/$a/role-mappings/realm" t6010-bad -d "[{\"name\":\"view-users\"}]")" 400 &&
	expect_eq "$(call usr POST "/users/$a/role-mappings/realm" t6010-bad -d "{\"name\":\"ADMIN\"}")" 400
'

test_expect_success 'API: reset-password (reset-passwords), logout (manage-sessions), delete (delete-users)' '
	a=$(cat "$T/id-alice") &&
	expect_eq "$(call usr PUT "/users/$a/reset-password" t6010-reset -d "{\"type\":\"password\",\"temporary\":false,\"value\":\"$PW2\"}")" 204 &&
	expect_eq "$(login alice@example.com "$PW")" 400 &&
	expect_eq "$(login alice@example.com "$PW2")" 200 &&
	cp "$T/rt" "$T/rt-alice2" &&
	expect_eq "$(call ops POST "/users/$a/logout" t6010-logout)" 204 &&
	expect_eq "$(refresh "$T/rt-alice2")" 400 &&
	expect_eq "$(call usr DELETE "/users/$(cat "$T/id-dave")" t6010-delete)" 204 &&
	expect_eq "$(call usr GET "/users/$(cat "$T/id-dave")" t6010-get)" 404 &&
	expect_eq "$(call ops POST /users/00000000-0000-4000-8000-000000000000/logout t6010-x)" 404
'

test_expect_success 'command line: list, search, show' '
	expect_eq "$(cli users list)" 0 &&
	expect_eq "$(cut -f 2,4 "$T/out" | tr "\t\n" ": ")" "alice@example.com:enabled carol@example.com:enabled " &&
	expect_eq "$(cli users list --first 1 --max 1)" 0 &&
	expect_eq "$(cut -f 2 "$T/out")" carol@example.com &&
	expect_eq "$(cli users search CAROL)" 0 &&
	expect_eq "$(cut -f 1 "$T/out")" "$(cat "$T/id-carol")" &&
	expect_eq "$(cli users show carol@example.com)" 0 &&
	cp "$T/out" "$T/body" &&
	expect_eq "$(json "[j[\"id\"], j[\"firstName\"], j[\"enabled\"]]")" "[\"$(cat "$T/id-carol")\", \"carolname\", true]" &&
	expect_eq "$(cli users show nobody@example.com)" 5 &&
	expect_eq "$(cli users frobnicate x)" 1
'

test_expect_success 'command line: disable/enable revokes the refresh token; roles add/remove' '
	c=$(cat "$T/id-carol") &&
	expect_eq "$(login carol@example.com "$PW")" 200 &&
	cp "$T/rt" "$T/rt-carol" &&
	expect_eq "$(cli users disable carol@example.com)" 0 &&
	expect_eq "$(login carol@example.com "$PW")" 400 &&
	expect_eq "$(cli users enable "$c")" 0 &&
	expect_eq "$(refresh "$T/rt-carol")" 400 &&
	expect_eq "$(login carol@example.com "$PW")" 200 &&
	expect_eq "$(cli users roles add carol@example.com ADMIN)" 0 &&
	expect_eq "$(call usr GET "/users/$c" t6010-get)" 200 &&
	expect_eq "$(json "sorted(j[\"realmRoles\"])")" "[\"ADMIN\", \"USER\", \"offline_access\"]" &&
	expect_eq "$(cli users roles remove carol@example.com ADMIN USER)" 0 &&
	expect_eq "$(call usr GET "/users/$c" t6010-get)" 200 &&
	expect_eq "$(json "j[\"realmRoles\"]")" "[\"offline_access\"]" &&
	expect_eq "$(cli users roles add carol@example.com NOPE)" 2
'

test_expect_success 'command line: reset-password from stdin and from a file, never argv; logout; delete' '
	c=$(cat "$T/id-carol") &&
	expect_eq "$(printf "%s\n" "$PW3" | cli users reset-password carol@example.com)" 0 &&
	expect_eq "$(login carol@example.com "$PW3")" 200 &&
	(umask 077 && printf "%s\n" "$PW4" >"$T/pwfile") &&
	expect_eq "$(cli users reset-password "$c" --password-file "$T/pwfile" </dev/null)" 0 &&
	expect_eq "$(login carol@example.com "$PW4")" 200 &&
	cp "$T/rt" "$T/rt-carol2" &&
	expect_eq "$(printf "weak\n" | cli users reset-password "$c")" 2 &&
	expect_eq "$(cli users logout carol@example.com)" 0 &&
	expect_eq "$(refresh "$T/rt-carol2")" 400 &&
	expect_eq "$(cli users delete carol@example.com)" 0 &&
	expect_eq "$(cli users show "$c")" 5 &&
	expect_eq "$(login carol@example.com "$PW4")" 400
'

test_expect_success 'audit (view-events): every action with actor and request id; filters; paging' '
	a=$(cat "$T/id-alice") &&
	c=$(cat "$T/id-carol") &&
	expect_eq "$(call ops GET "/audit?max=1000" t6010-audit)" 200 &&
	cp "$T/body" "$T/audit" &&
	for u in alice carol dave; do
		has_event USER_CREATE "$(cat "$T/id-$u")" elp-user "t6010-create-$u" || return 1
	done &&
	has_event USER_DISABLE "$a" elp-user t6010-disable &&
	expect_eq "$(json "[j[\"details\"][\"changes\"][\"enabled\"], j[\"operationType\"], j[\"resourcePath\"], j[\"authDetails\"][\"clientId\"]]")" \
	    "[{\"from\": true, \"to\": false}, \"UPDATE\", \"users/$a\", \"elp-user\"]" &&
	expect_eq "$(json "j[\"details\"][\"refreshTokensRevoked\"] >= 1")" true &&
	has_event USER_ENABLE "$a" elp-user t6010-enable &&
	has_event ROLE_GRANT "$a" elp-user t6010-grant &&
	expect_eq "$(json "j[\"details\"][\"realmRoles\"]")" "[\"ADMIN\"]" &&
	has_event ROLE_REVOKE "$a" elp-user t6010-revoke &&
	has_event USER_RESET_PASSWORD "$a" elp-user t6010-reset &&
	has_event USER_LOGOUT "$a" elp-ops t6010-logout &&
	has_event USER_DELETE "$(cat "$T/id-dave")" elp-user t6010-delete &&
	expect_eq "$(json "j[\"details\"][\"username\"]")" dave@example.com &&
	for ev in USER_DISABLE USER_ENABLE ROLE_GRANT ROLE_REVOKE USER_RESET_PASSWORD USER_LOGOUT USER_DELETE; do
		has_event "$ev" "$c" "$CLI_ACTOR" null || return 1
	done &&
	python3 -c "import json,sys; ids=[e[\"requestId\"] for e in json.load(open(sys.argv[1]))]; sys.exit(any(i and (i.startswith(\"t6010-msg\") or i.startswith(\"t6010-bad\")) for i in ids))" "$T/audit" &&
	expect_eq "$(call ops GET "/audit?actor=elp-ops" t6010-audit)" 200 &&
	expect_eq "$(json "[e[\"action\"] for e in j]")" "[\"USER_LOGOUT\"]" &&
	expect_eq "$(call ops GET "/audit?target=$a&max=2" t6010-audit)" 200 &&
	expect_eq "$(json "[e[\"action\"] for e in j]")" "[\"USER_LOGOUT\", \"USER_RESET_PASSWORD\"]" &&
	expect_eq "$(call ops GET "/audit?target=$a&first=2&max=1" t6010-audit)" 200 &&
	expect_eq "$(json "[e[\"action\"] for e in j]")" "[\"ROLE_REVOKE\"]"
'

test_expect_success 'login events (view-events): logins and refusals with the reason, no password' '
	a=$(cat "$T/id-alice") &&
	expect_eq "$(login nobody@example.com "$PW")" 400 &&
	expect_eq "$(call msg GET /events t6010-msg-events)" 403 &&
	expect_eq "$(call ops GET "/events?max=1000" t6010-events)" 200 &&
	cp "$T/body" "$T/events" &&
	# A name that is no account may be a password typed in the wrong
	# field: only its keyed hash is kept.
	expect_eq "$(json "[(e[\"error\"], e[\"details\"][\"username\"][:9], e[\"clientId\"]) for e in j if e[\"type\"] == \"LOGIN_ERROR\"][0]")" \
	    "[\"user_not_found\", \"unknown (\", \"admin-cli\"]" &&
	! grep -q "nobody@example.com" "$T/events" &&
	expect_eq "$(json "len([e for e in j if e[\"type\"] == \"LOGIN_ERROR\" and e[\"userId\"] == \"$a\" and e[\"error\"] == \"user_disabled\"])")" 1 &&
	expect_eq "$(json "len([e for e in j if e[\"type\"] == \"LOGIN_ERROR\" and e[\"userId\"] == \"$a\" and e[\"error\"] == \"invalid_user_credentials\"])")" 1 &&
	expect_eq "$(call ops GET "/events?user=$a&type=LOGIN" t6010-events)" 200 &&
	expect_eq "$(json "len(j) >= 3 and all(e[\"userId\"] == \"$a\" and e[\"type\"] == \"LOGIN\" and e[\"ipAddress\"] == \"127.0.0.1\" for e in j)")" true
'

test_expect_success 'audit command; no password anywhere in the trail or the logs' '
	expect_eq "$(cli audit --actor "$CLI_ACTOR" --max 1)" 0 &&
	expect_eq "$(wc -l <"$T/out")" 1 &&
	python3 -c "import json,sys; e=json.loads(open(sys.argv[1]).read()); sys.exit(e[\"action\"] != \"USER_DELETE\" or e[\"actorType\"] != \"cli\")" "$T/out" &&
	expect_eq "$(cli audit --target "$(cat "$T/id-carol")")" 0 &&
	expect_eq "$(wc -l <"$T/out")" 9 &&
	for p in "$PW" "$PW2" "$PW3" "$PW4"; do
		! grep -qF "$p" "$T/audit" "$T/events" "$T"/log/*.log || return 1
	done
'

test_done
