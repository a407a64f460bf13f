#!/bin/sh
# The user management API (docs/contract/api.md 4.1) through the gateway, with a
# real elp-auth behind elp-user's admin API client: registration creates the
# account and the profile (both or neither), email and password rules,
# duplicates in any letter case, first-login init, and the access rules of
# reading and changing profiles, images and passwords.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
ADMIN_BASE=http://127.0.0.1:$ADMIN_PORT
TOKEN_URL=$ADMIN_BASE/realms/e-learning-platform/protocol/openid-connect/token
ADM=$ADMIN_BASE/admin/realms/e-learning-platform
A=http://127.0.0.1:$API_PORT/user-management-api
PW='Secr3t#pass'
PW2='N3w-secret!'
PWRULE='Password should be minimum eight characters. And contain at least one uppercase letter, one lowercase letter, one number and one special character!'
NOBODY=00000000-0000-4000-8000-000000000000

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

# root_sql SQL: runs SQL in elp_user as the server's admin account.
root_sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_user -N -B -e "$1"
}

# login EMAIL PASSWORD: status of a password grant; token in $T/tok.
login() {
	s=$(curl -s -o "$T/login" -w '%{http_code}' -d grant_type=password \
	    -d client_id=admin-cli --data-urlencode "username=$1" \
	    --data-urlencode "password=$2" "$TOKEN_URL")
	python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get("access_token", ""))' \
	    "$T/login" >"$T/tok"
	echo "$s"
}

token() {	# token EMAIL [PASSWORD]: prints an access token
	login "$1" "${2:-$PW}" >/dev/null && cat "$T/tok"
}

sub_of() {	# sub_of TOKEN: the token's sub claim
	printf '%s' "$1" | python3 -c 'import base64, json, sys
p = sys.stdin.read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"])'
}

# api METHOD PATH TOKEN [BODY]: a call to the user API ("-" = no token).
api() {
	set -- "$1" "$2" "$3" "${4:-}"
	if [ "$3" = - ]; then
		http "$1" "$A$2" ${4:+-H "Content-Type: application/json" -d "$4"}
	else
		http "$1" "$A$2" -H "Authorization: Bearer $3" \
		    ${4:+-H "Content-Type: application/json" -d "$4"}
	fi
}

msg() {
	json 'j["errorBody"]["errorMessage"] if "errorBody" in j else j["responseBody"]["message"]'
}

# svc GET PATH: the elp-auth admin API with a service token.
svc() {
	st=$(curl -s -u "elp-user:$(head -n 1 "$T/var/secrets/auth-elp-user.secret")" \
	    -d grant_type=client_credentials "$TOKEN_URL" |
	    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') &&
	http "$1" "$ADM$2" -H "Authorization: Bearer $st"
}

reg() {	# reg EMAIL [PASSWORD]: registration body
	printf '{"email":"%s","password":"%s","confirmPassword":"%s","firstName":"F","lastName":"L","role":"ADMIN"}' \
	    "$1" "${2:-$PW}" "${2:-$PW}"
}

test_expect_success 'start MariaDB, elp-auth, elp-user and the gateway' '
	db_up && auth_up &&
	user_conf user "$T/run/user.sock" &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/user-management-api\" service=\"user\" rewrite=\"/user\"/>" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"4\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email root@example.com --first Ada --last Admin \
	    --role ADMIN >"$T/admin.id"
'

test_expect_success 'register: 201, the account logs in, the profile exists' '
	expect_eq "$(api POST /register - "{\"email\":\"Alice@Example.com\",\"password\":\"$PW\",\"confirmPassword\":\"$PW\",\"firstName\":\"Alice\",\"lastName\":\"Liddell\",\"gender\":\"Female\",\"dateOfBirth\":\"2000-01-02\",\"role\":\"ADMIN\",\"userId\":\"$NOBODY\"}")" 201 &&
	expect_eq "$(json j)" "{\"httpStatus\": \"CREATED\", \"responseBody\": {\"message\": \"Successfully added user\"}}" &&
	expect_eq "$(login alice@example.com "$PW")" 200 &&
	TA=$(cat "$T/tok") && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api GET "/$ALICE" "$TA")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"user\"]")" \
	    "{\"userId\": \"$ALICE\", \"firstName\": \"Alice\", \"lastName\": \"Liddell\", \"imageUrl\": null, \"email\": \"alice@example.com\", \"gender\": \"Female\", \"dateOfBirth\": \"2000-01-02\"}" &&
	expect_eq "$(svc GET "/users/$ALICE")" 200 &&
	expect_eq "$(json "sorted(j[\"realmRoles\"])")" "[\"USER\", \"offline_access\"]"
'

test_expect_success 'register: email and password rules, bad bodies; nothing written' '
	for e in a@b.c a@sub.example2.com a@localhost a..b@x.com a@b.abcdefgh "a b@x.com"; do
		expect_eq "$(api POST /register - "$(reg "$e")")" 400 &&
		expect_eq "$(msg)" "Failed to add user! Reason: Email id - $e is not valid!" || return 1
	done &&
	expect_eq "$(api POST /register - "{\"password\":\"$PW\"}")" 400 &&
	expect_eq "$(msg)" "Failed to add user! Reason: Email id - null is not valid!" &&
	for p in shrt1A! nouppercase1! NOLOWERCASE1! NoDigits!! NoSpecial11; do
		expect_eq "$(api POST /register - "$(reg bob@example.com "$p")")" 400 &&
		expect_eq "$(msg)" "Failed to add user! Reason: $PWRULE" || return 1
	done &&
	expect_eq "$(api POST /register - "{\"email\":\"bob@example.com\",\"password\":\"$PW\",\"firstName\":7}")" 400 &&
	expect_eq "$(api POST /register - "not json")" 400 &&
	msg | grep -q "^Failed to add user! Reason: JSON parse error" &&
	expect_eq "$(api POST /register - "[1]")" 400 &&
	expect_eq "$(root_sql "SELECT COUNT(*) FROM user WHERE email NOT LIKE \"test-%@example.com\"")" 1 &&
	expect_eq "$(login bob@example.com "$PW")" 400
'

test_expect_success 'register: a duplicate email in any case is 400' '
	expect_eq "$(api POST /register - "$(reg ALICE@example.COM)")" 400 &&
	expect_eq "$(msg)" "Failed to add user! Reason: User with email id - ALICE@example.COM already exists!"
'

test_expect_success 'register: a profile holding the email refuses it; no account made' '
	root_sql "INSERT INTO user (user_id, email) VALUES (\"$NOBODY\", \"bob@example.com\")" &&
	expect_eq "$(api POST /register - "$(reg Bob@example.com)")" 400 &&
	expect_eq "$(msg)" "Failed to add user! Reason: User with email id - Bob@example.com already exists!" &&
	expect_eq "$(login bob@example.com "$PW")" 400 &&
	expect_eq "$(svc GET /roles/USER/users)" 200 &&
	expect_eq "$(json "[u[\"email\"] for u in j]")" "[\"alice@example.com\"]"
'

test_expect_success 'register: a failing profile insert removes the new account again' '
	root_sql "CREATE TRIGGER t_fail BEFORE INSERT ON user FOR EACH ROW
	    SET NEW.user_id = IF(NEW.email = \"carol@example.com\", \"bad\",
	    NEW.user_id)" &&
	expect_eq "$(api POST /register - "$(reg carol@example.com)")" 500 &&
	loggrep user.log "registration undone: account [0-9a-f-]+ deleted" &&
	expect_eq "$(login carol@example.com "$PW")" 400 &&
	expect_eq "$(svc GET /roles/USER/users)" 200 &&
	expect_eq "$(json "[u[\"email\"] for u in j]")" "[\"alice@example.com\"]" &&
	root_sql "DROP TRIGGER t_fail" &&
	expect_eq "$(api POST /register - "$(reg carol@example.com)")" 201 &&
	expect_eq "$(login carol@example.com "$PW")" 200
'

test_expect_success 'init: self only, from the token claims, idempotent' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api POST /init - "{\"userId\":\"$ROOT_ID\"}")" 401 &&
	expect_eq "$(api POST /init "$TR" "{}")" 400 &&
	expect_eq "$(msg)" "Failed to initialize user data! Reason: userId is required" &&
	expect_eq "$(api POST /init "$TR" "{\"userId\":\"$ALICE\"}")" 403 &&
	expect_eq "$(api POST /init "$TR" "{\"userId\":\"$ROOT_ID\",\"email\":\"evil@example.com\",\"gender\":\"x\"}")" 201 &&
	expect_eq "$(msg)" "Successfully initialized user data" &&
	expect_eq "$(api POST /init "$TR" "{\"userId\":\"$(echo "$ROOT_ID" | tr a-f A-F)\"}")" 201 &&
	expect_eq "$(api POST /init "$TA" "{\"userId\":\"$ALICE\"}")" 201 &&
	expect_eq "$(api GET "/$ROOT_ID" "$TR")" 200 &&
	expect_eq "$(json "[j[\"responseBody\"][\"user\"][k] for k in (\"email\", \"firstName\", \"lastName\", \"gender\")]")" \
	    "[\"root@example.com\", \"Ada\", \"Admin\", null]" &&
	expect_eq "$(root_sql "SELECT COUNT(*) FROM user WHERE email NOT LIKE \"test-%@example.com\"")" 4
'

test_expect_success 'get: 401 without token, self and ADMIN ok, other USER 403' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api GET "/$ALICE" -)" 401 &&
	expect_eq "$(msg)" "Missing access token" &&
	expect_eq "$(api GET "/$ALICE" "$TA")" 200 &&
	expect_eq "$(api GET "/$ROOT_ID" "$TA")" 403 &&
	expect_eq "$(msg)" "Access Denied" &&
	expect_eq "$(api GET "/$ALICE" "$TR")" 200 &&
	expect_eq "$(api GET "/$(echo "$ALICE" | tr a-f A-F)" "$TR")" 200 &&
	expect_eq "$(api GET /not-a-uuid "$TR")" 400 &&
	expect_eq "$(msg)" "Invalid UUID: not-a-uuid" &&
	expect_eq "$(api GET /12345678-1234-4234-8234-123456789abc "$TR")" 404 &&
	expect_eq "$(msg)" "No user found for this user id!" &&
	expect_eq "$(api GET /profile "$TR")" 405 &&
	grep -qi "^allow: POST" "$T/headers"
'

test_expect_success 'lists: ADMIN only; USER role members by email, admins, by ids' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api GET "" -)" 401 &&
	expect_eq "$(api GET "" "$TA")" 403 &&
	expect_eq "$(api GET "" "$TR")" 200 &&
	expect_eq "$(json "[u[\"email\"] for u in j[\"responseBody\"][\"userList\"]]")" \
	    "[\"alice@example.com\", \"carol@example.com\"]" &&
	expect_eq "$(api GET /admin "$TR")" 200 &&
	expect_eq "$(json "[u[\"userId\"] for u in j[\"responseBody\"][\"userList\"]]")" "[\"$ROOT_ID\"]" &&
	expect_eq "$(api POST /list "$TA" "{\"userIds\":[\"$ALICE\"]}")" 403 &&
	expect_eq "$(api POST /list "$TR" "{\"userIds\":[\"$ALICE\",\"12345678-1234-4234-8234-123456789abc\",\"$(echo "$ROOT_ID" | tr a-f A-F)\",\"$ALICE\"]}")" 200 &&
	expect_eq "$(json "[u[\"email\"] for u in j[\"responseBody\"][\"userList\"]]")" \
	    "[\"alice@example.com\", \"root@example.com\"]" &&
	expect_eq "$(api POST /list "$TR" "{\"userIds\":[\"nope\"]}")" 400 &&
	expect_eq "$(msg)" "Failed to fetch user information! Reason: Invalid UUID: nope"
'

test_expect_success 'profile: self or ADMIN; names reach elp-auth too' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api POST /profile - "{\"userId\":\"$ALICE\"}")" 401 &&
	expect_eq "$(api POST /profile "$TA" "{\"userId\":\"$ROOT_ID\",\"firstName\":\"X\"}")" 403 &&
	expect_eq "$(api POST /profile "$TA" "{\"userId\":\"$ALICE\",\"firstName\":\"Alicia\",\"lastName\":\"Pleasance\",\"gender\":\"Other\",\"email\":\"x@example.com\",\"imageUrl\":\"file-system-storage/x.jpg\"}")" 200 &&
	expect_eq "$(msg)" "Successfully updated user information" &&
	expect_eq "$(api GET "/$ALICE" "$TA")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"user\"]")" \
	    "{\"userId\": \"$ALICE\", \"firstName\": \"Alicia\", \"lastName\": \"Pleasance\", \"imageUrl\": null, \"email\": \"alice@example.com\", \"gender\": \"Other\", \"dateOfBirth\": null}" &&
	expect_eq "$(svc GET "/users/$ALICE")" 200 &&
	expect_eq "$(json "[j[\"firstName\"], j[\"lastName\"], j[\"email\"]]")" "[\"Alicia\", \"Pleasance\", \"alice@example.com\"]" &&
	expect_eq "$(api POST /profile "$TR" "{\"userId\":\"$ALICE\",\"firstName\":\"Alice\",\"lastName\":\"Liddell\"}")" 200 &&
	expect_eq "$(svc GET "/users/$ALICE")" 200 &&
	expect_eq "$(json "[j[\"firstName\"], j[\"lastName\"]]")" "[\"Alice\", \"Liddell\"]" &&
	expect_eq "$(api POST /profile "$TR" "{\"userId\":\"12345678-1234-4234-8234-123456789abc\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update user information! Reason: User with id - 12345678-1234-4234-8234-123456789abc not found!" &&
	expect_eq "$(api POST /profile "$TR" "{\"userId\":\"$NOBODY\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update user information! Reason: HTTP 404 Not Found" &&
	expect_eq "$(api POST /profile "$TR" "{\"userId\":\"bad\"}")" 400
'

test_expect_success 'image: self or ADMIN; only file-system-storage/<name>' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api POST /image - "{\"userId\":\"$ALICE\"}")" 401 &&
	expect_eq "$(api POST /image "$TA" "{\"userId\":\"$ROOT_ID\",\"imageUrl\":null}")" 403 &&
	expect_eq "$(api POST /image "$TA" "{\"userId\":\"$ALICE\",\"imageUrl\":\"file-system-storage/a1.jpg\"}")" 200 &&
	expect_eq "$(msg)" "Successfully updated profile image" &&
	api GET "/$ALICE" "$TA" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"user\"][\"imageUrl\"]")" file-system-storage/a1.jpg &&
	for u in http://evil.example/x.jpg file-system-storage/../x file-system-storage/ file-system-storage/.x; do
		expect_eq "$(api POST /image "$TA" "{\"userId\":\"$ALICE\",\"imageUrl\":\"$u\"}")" 400 || return 1
	done &&
	expect_eq "$(api POST /image "$TR" "{\"userId\":\"$ALICE\",\"imageUrl\":null}")" 200 &&
	api GET "/$ALICE" "$TA" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"user\"][\"imageUrl\"]")" null &&
	expect_eq "$(api POST /image "$TR" "{\"userId\":\"zz\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update profile image! Reason: Invalid UUID string: zz" &&
	expect_eq "$(api POST /image "$TR" "{\"userId\":\"12345678-1234-4234-8234-123456789abc\"}")" 417
'

test_expect_success 'password: self or ADMIN, rule enforced, through elp-auth' '
	TR=$(token root@example.com) && ROOT_ID=$(cat "$T/admin.id") &&
	TA=$(token alice@example.com) && ALICE=$(sub_of "$TA") &&
	expect_eq "$(api POST /password - "{\"userId\":\"$ALICE\",\"password\":\"$PW2\"}")" 401 &&
	expect_eq "$(api POST /password "$TA" "{\"userId\":\"$ROOT_ID\",\"password\":\"$PW2\"}")" 403 &&
	expect_eq "$(api POST /password "$TA" "{\"userId\":\"$ALICE\",\"password\":\"weak\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update password! Reason: $PWRULE" &&
	expect_eq "$(api POST /password "$TA" "{\"userId\":\"$ALICE\",\"password\":\"$PW2\"}")" 200 &&
	expect_eq "$(msg)" "Successfully updated password" &&
	expect_eq "$(login alice@example.com "$PW2")" 200 &&
	expect_eq "$(login alice@example.com "$PW")" 400 &&
	expect_eq "$(api POST /password "$TR" "{\"userId\":\"$ALICE\",\"password\":\"$PW\"}")" 200 &&
	expect_eq "$(login alice@example.com "$PW")" 200 &&
	expect_eq "$(api POST /password "$TR" "{\"userId\":\"$NOBODY\",\"password\":\"$PW\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update password! Reason: HTTP 404 Not Found"
'

test_expect_success 'register/admin: ADMIN only, grants ADMIN' '
	TR=$(token root@example.com) && TA=$(token alice@example.com) &&
	expect_eq "$(api POST /register/admin - "$(reg dave@example.com)")" 401 &&
	expect_eq "$(api POST /register/admin "$TA" "$(reg dave@example.com)")" 403 &&
	expect_eq "$(api POST /register/admin "$TR" "$(reg dave@example.com)")" 201 &&
	expect_eq "$(msg)" "Successfully added admin" &&
	expect_eq "$(api POST /register/admin "$TR" "$(reg Dave@example.com)")" 400 &&
	expect_eq "$(msg)" "Failed to add admin user! Reason: User with email id - Dave@example.com already exists!" &&
	expect_eq "$(api GET /admin "$TR")" 200 &&
	expect_eq "$(json "sorted(u[\"email\"] for u in j[\"responseBody\"][\"userList\"])")" \
	    "[\"dave@example.com\", \"root@example.com\"]"
'

test_expect_success 'identity provider down: 503, nothing written' '
	TR=$(token root@example.com) &&
	api GET "" "$TR" >/dev/null &&
	stop_pid "$pid_auth" &&
	expect_eq "$(api POST /register - "$(reg erin@example.com)")" 503 &&
	expect_eq "$(msg)" "Failed to add user! Reason: Identity provider unavailable" &&
	expect_eq "$(api GET "" "$TR")" 503 &&
	expect_eq "$(root_sql "SELECT COUNT(*) FROM user WHERE email = \"erin@example.com\"")" 0 &&
	! grep -E "$PW|client_secret|Bearer ey" "$T"/log/user.log
'

test_done
