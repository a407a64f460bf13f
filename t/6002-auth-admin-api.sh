#!/bin/sh
# The admin REST API of elp-auth through the gateway's loopback admin
# listener, as the user service uses it: a client-credentials token with
# the admin-service role; create (idempotent with Idempotency-Key), get,
# update, set password (rules enforced), list by role and by ids, delete;
# 401 without a token, 403 with an application user's token.
. "$(dirname "$0")/lib.sh"

PW='Secr3t#pass'
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
TOKEN_URL=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/token
ADM=http://127.0.0.1:$ADMIN_PORT/admin/realms/e-learning-platform

# svc_token: a client-credentials token of elp-user into $T/svc.
svc_token() {
	curl -sf -u "elp-user:$(head -n 1 "$T/var/secrets/auth-elp-user.secret")" \
	    -d grant_type=client_credentials "$TOKEN_URL" >"$T/body" &&
	json "j[\"access_token\"]" >"$T/svc"
}

# adm METHOD PATH [curl args]: admin call with the service token.
adm() {
	m=$1
	p=$2
	shift 2
	http "$m" "$ADM$p" -H "Authorization: Bearer $(cat "$T/svc")" "$@"
}

# password_login USER PASS: status of a password grant for admin-cli.
password_login() {
	curl -s -o "$T/body" -w '%{http_code}' -d grant_type=password \
	    -d client_id=admin-cli --data-urlencode "username=$1" \
	    --data-urlencode "password=$2" "$TOKEN_URL"
}

test_expect_success 'start MariaDB, elp-auth and elp-gateway; service token' '
	db_up &&
	auth_up &&
	gateway_up &&
	svc_token
'

test_expect_success 'create: 201 with Location and id' '
	expect_eq "$(adm POST /users -H "Content-Type: application/json" -H "Idempotency-Key: reg-1" \
	    -d "{\"email\":\"Grace@Example.com\",\"firstName\":\"Grace\",\"lastName\":\"Hopper\",\"password\":\"$PW\",\"role\":\"USER\"}")" 201 &&
	json "j[\"id\"]" >"$T/id1" &&
	expect_eq "$(grep -i "^location:" "$T/headers" | tr -d "\r" | sed "s/^[^:]*: //")" \
	    "http://127.0.0.1:$IDP_PORT/admin/realms/e-learning-platform/users/$(cat "$T/id1")"
'

test_expect_success 'create: a retry with the same Idempotency-Key returns the same id' '
	expect_eq "$(adm POST /users -H "Content-Type: application/json" -H "Idempotency-Key: reg-1" \
	    -d "{\"email\":\"grace@example.com\",\"firstName\":\"Grace\",\"lastName\":\"Hopper\",\"password\":\"$PW\",\"role\":\"USER\"}")" 201 &&
	expect_eq "$(json "j[\"id\"]")" "$(cat "$T/id1")" &&
	grep -qi "^idempotent-replayed: true" "$T/headers"
'

test_expect_success 'create: a taken email by another creation is 409' '
	expect_eq "$(adm POST /users -H "Content-Type: application/json" -H "Idempotency-Key: reg-2" \
	    -d "{\"email\":\"GRACE@example.com\",\"firstName\":\"G\",\"lastName\":\"H\",\"role\":\"USER\"}")" 409 &&
	expect_eq "$(adm POST /users -H "Content-Type: application/json" \
	    -d "{\"email\":\"grace@example.com\",\"role\":\"USER\"}")" 409 &&
	expect_eq "$(json "j[\"errorMessage\"]")" "User exists with same username or email"
'

test_expect_success 'create: bad password, bad role, bad email are 400' '
	expect_eq "$(adm POST /users -H "Content-Type: application/json" \
	    -d "{\"email\":\"x@example.com\",\"password\":\"weak\",\"role\":\"USER\"}")" 400 &&
	expect_eq "$(adm POST /users -H "Content-Type: application/json" \
	    -d "{\"email\":\"x@example.com\",\"role\":\"admin-service\"}")" 400 &&
	expect_eq "$(adm POST /users -H "Content-Type: application/json" \
	    -d "{\"email\":\"not an email\",\"role\":\"USER\"}")" 400
'

test_expect_success 'get: representation with roles; 404 for unknown and malformed ids' '
	expect_eq "$(adm GET "/users/$(cat "$T/id1")")" 200 &&
	expect_eq "$(json "[j[\"id\"], j[\"username\"], j[\"email\"], j[\"firstName\"], j[\"lastName\"], j[\"enabled\"]]")" \
	    "[\"$(cat "$T/id1")\", \"grace@example.com\", \"grace@example.com\", \"Grace\", \"Hopper\", true]" &&
	expect_eq "$(json "sorted(j[\"roles\"])")" "[\"USER\", \"offline_access\"]" &&
	expect_eq "$(adm GET /users/00000000-0000-4000-8000-000000000000)" 404 &&
	expect_eq "$(adm GET /users/nope)" 404
'

test_expect_success 'update names: 204, visible on get and in new tokens' '
	expect_eq "$(adm PUT "/users/$(cat "$T/id1")" -H "Content-Type: application/json" \
	    -d "{\"firstName\":\"Grace B.\",\"lastName\":\"Murray\"}")" 204 &&
	adm GET "/users/$(cat "$T/id1")" >/dev/null &&
	expect_eq "$(json "[j[\"firstName\"], j[\"lastName\"], j[\"email\"]]")" "[\"Grace B.\", \"Murray\", \"grace@example.com\"]" &&
	expect_eq "$(adm PUT /users/00000000-0000-4000-8000-000000000000 -H "Content-Type: application/json" -d "{}")" 404
'

test_expect_success 'set password: rules enforced; the new one works with the password grant' '
	expect_eq "$(adm PUT "/users/$(cat "$T/id1")/reset-password" -H "Content-Type: application/json" \
	    -d "{\"type\":\"password\",\"temporary\":false,\"value\":\"alllowercase1!\"}")" 400 &&
	expect_eq "$(json "\"uppercase\" in j[\"errorMessage\"]")" true &&
	expect_eq "$(password_login grace@example.com "$PW")" 200 &&
	expect_eq "$(adm PUT "/users/$(cat "$T/id1")/reset-password" -H "Content-Type: application/json" \
	    -d "{\"type\":\"password\",\"temporary\":false,\"value\":\"N3w-Password\"}")" 204 &&
	expect_eq "$(password_login grace@example.com "$PW")" 400 &&
	expect_eq "$(password_login grace@example.com N3w-Password)" 200 &&
	json "j[\"access_token\"]" >"$T/user_at" &&
	! grep -q "N3w-Password" "$T"/log/*.log
'

test_expect_success 'list by role: all direct members, no cap' '
	for i in 1 2 3; do
		expect_eq "$(adm POST /users -H "Content-Type: application/json" \
		    -d "{\"email\":\"admin$i@example.com\",\"role\":\"ADMIN\"}")" 201 || return 1
		json "j[\"id\"]" >>"$T/admins" || return 1
	done &&
	expect_eq "$(adm GET /roles/ADMIN/users)" 200 &&
	expect_eq "$(json "sorted(u[\"id\"] for u in j)")" "$(python3 -c "import json,sys; print(json.dumps(sorted(open(sys.argv[1]).read().split())))" "$T/admins")" &&
	expect_eq "$(adm GET /roles/USER/users)" 200 &&
	expect_eq "$(json "[u[\"id\"] for u in j]")" "[\"$(cat "$T/id1")\"]" &&
	expect_eq "$(adm GET /roles/NOPE/users)" 404
'

test_expect_success 'list by ids: found ones in request order, unknown skipped' '
	expect_eq "$(adm POST /users/by-ids -H "Content-Type: application/json" \
	    -d "{\"ids\":[\"$(head -n 1 "$T/admins")\",\"00000000-0000-4000-8000-000000000000\",\"$(cat "$T/id1")\"]}")" 200 &&
	expect_eq "$(json "[u[\"email\"] for u in j]")" "[\"admin1@example.com\", \"grace@example.com\"]"
'

test_expect_success 'no token is 401; a USER access token is 403; ADMIN role does not open it' '
	expect_eq "$(http GET "$ADM/users/$(cat "$T/id1")")" 401 &&
	expect_eq "$(http GET "$ADM/users/$(cat "$T/id1")" -H "Authorization: Bearer $(cat "$T/user_at")")" 403 &&
	expect_eq "$(http GET "$ADM/users/$(cat "$T/id1")" -H "Authorization: Bearer not.a.token")" 401 &&
	expect_eq "$(adm PUT "/users/$(head -n 1 "$T/admins")/reset-password" -H "Content-Type: application/json" \
	    -d "{\"value\":\"Adm1n-Password\"}")" 204 &&
	expect_eq "$(password_login admin1@example.com Adm1n-Password)" 200 &&
	expect_eq "$(http DELETE "$ADM/users/$(cat "$T/id1")" -H "Authorization: Bearer $(json "j[\"access_token\"]")")" 403
'

test_expect_success 'delete: 204, then 404; the account can no longer log in' '
	expect_eq "$(adm DELETE "/users/$(cat "$T/id1")")" 204 &&
	expect_eq "$(adm GET "/users/$(cat "$T/id1")")" 404 &&
	expect_eq "$(adm DELETE "/users/$(cat "$T/id1")")" 404 &&
	expect_eq "$(password_login grace@example.com N3w-Password)" 400
'

test_done
