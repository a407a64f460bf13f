#!/bin/sh
# API details across the services (docs/contract/api.md 2.4, 2.6, 4.1.8,
# 4.2-4.4; auth.md): 415 for JSON endpoints sent another type or charset,
# 405 with Allow on known paths (literal routes win over captures of
# another method), validation 400s that say what to fix, lecture numbers
# that stay distinct under concurrent adds, the logout confirmation of
# elp-auth (no logout CSRF) and the response modes in its discovery.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
OIDC=$ISS/protocol/openid-connect
PW='Secr3t#pass'
NOPE=00000000-0000-4000-8000-000000000000

create_user() {	# create_user EMAIL ROLE
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role "$2"
}

token() {	# token EMAIL
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

oidc() {
	python3 "$ROOT/t/helper/oidc.py" "$ISS" "$@" >"$T/body"
}

msg() {
	json 'j["errorBody"]["errorMessage"]'
}

# send TOKEN METHOD URL CTYPE BODY: CTYPE "-" sends no Content-Type.
send() {
	if [ "$4" = - ]; then ct="Content-Type:"; else ct="Content-Type: $4"; fi
	http "$2" "$3" -H "Authorization: Bearer $1" -H "$ct" --data-binary "$5"
}

allow() {	# allow: the Allow header of the last response
	grep -i "^allow:" "$T/headers" | cut -d: -f2- | sed "s/^ *//; s/\r\$//"
}

sql() {	# sql DB QUERY
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" -N -B "$1" -e "$2"
}

test_expect_success 'start MariaDB, elp-auth, elp-course, elp-user and the gateway' '
	db_up && auth_up && course_up course 4 &&
	cat >"$T/conf/services/user.xml" <<XML &&
<service name="user">
  <log level="info"/>
  <pool listen="unix:$T/run/user.sock" workers="1" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_user"
            user="elp_user" password-file="$T/var/secrets/db-user.pw"
            connect-timeout="1s" timeout="3s"/>
  <auth jwks-url="http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="$ISS" audience="elp-api" refresh-min="1s"/>
  <idp base-url="http://127.0.0.1:$ADMIN_PORT" realm="e-learning-platform"
       client-id="elp-user" secret-file="$T/var/secrets/auth-elp-user.secret"
       timeout="3s"/>
</service>
XML
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"4\"/>" &&
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"1\"/></service>" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>
  <route listen=\"api\" prefix=\"/course-content-management-api\" service=\"course\" rewrite=\"/course-content\"/>
  <route listen=\"api\" prefix=\"/payment-management-api\" service=\"course\" rewrite=\"/payment\"/>
  <route listen=\"api\" prefix=\"/user-management-api\" service=\"user\" rewrite=\"/user\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	create_user user@example.com USER >"$T/user.id"
'
A=http://127.0.0.1:$API_PORT
CM=$A/course-management-api
CC=$A/course-content-management-api
PM=$A/payment-management-api
UM=$A/user-management-api
TA=$(token admin@example.com)
TU=$(token user@example.com)
UID_=$(cat "$T/user.id" 2>/dev/null)
SEED=550e8400-e29b-41d4-a716-446655440001

test_expect_success '415: JSON endpoints refuse other types and charsets' '
	B="{\"courseName\":\"T\"}" &&
	for ct in "text/plain" "application/x-www-form-urlencoded" \
	    "application/json; charset=utf-7" "application/json; charset=UTF-16" \
	    "application/json;charset=\"utf-16le\"" "application/xml" -; do
		expect_eq "$(send "$TA" POST "$CM" "$ct" "$B")" 415 || return 1
		expect_eq "$(json "j[\"httpStatus\"]")" UNSUPPORTED_MEDIA_TYPE || return 1
	done &&
	send "$TA" POST "$CM" "application/json; charset=utf-7" "$B" >/dev/null &&
	msg | grep -q "application/json is read as UTF-8" &&
	send "$TA" POST "$CM" - "$B" >/dev/null &&
	expect_eq "$(msg)" "Content-Type is missing: send the body as application/json" &&
	send "$TA" POST "$CM" text/plain "$B" >/dev/null &&
	expect_eq "$(msg)" "Content-Type text/plain is not supported: send the body as application/json" &&
	expect_eq "$(send "$TU" POST "$UM/profile" text/plain "{}")" 415 &&
	expect_eq "$(send "$TU" POST "$PM" "application/x-www-form-urlencoded" "a=b")" 415 &&
	expect_eq "$(send "$TA" POST "$CC" "text/plain" "{}")" 415
'

test_expect_success '415 for a chunked body too: the gateway buffers it and sends its length' '
	B="{\"courseName\":\"Chunked\"}" &&
	expect_eq "$(http POST "$CM" -H "Authorization: Bearer $TA" \
	    -H "Content-Type:" -H "Transfer-Encoding: chunked" \
	    --data-binary "$B")" 415 &&
	expect_eq "$(msg)" "Content-Type is missing: send the body as application/json" &&
	expect_eq "$(http POST "$CM" -H "Authorization: Bearer $TA" \
	    -H "Content-Type: application/json" -H "Transfer-Encoding: chunked" \
	    --data-binary "$B")" 201
'

test_expect_success 'accepted: application/json in any case, with or without charset=utf-8' '
	expect_eq "$(send "$TA" POST "$CM" "Application/JSON; Charset=\"UTF-8\"" "{\"courseName\":\"A\"}")" 201 &&
	expect_eq "$(send "$TA" POST "$CM" "application/json;charset=utf-8" "{\"courseName\":\"B\"}")" 201 &&
	expect_eq "$(send "$TA" POST "$CM" "application/json" "{\"courseName\":\"C\"}")" 201 &&
	expect_eq "$(http GET "$CM" -H "Content-Type: video/mp4")" 200
'

test_expect_success '405 with Allow on known paths, in course and user' '
	expect_eq "$(http GET "$CM/update" -H "Authorization: Bearer $TA")" 405 &&
	expect_eq "$(allow)" POST &&
	expect_eq "$(json "j[\"httpStatus\"]")" METHOD_NOT_ALLOWED &&
	expect_eq "$(http PUT "$CM" -H "Authorization: Bearer $TA")" 405 &&
	expect_eq "$(allow)" "GET, POST, HEAD" &&
	expect_eq "$(http DELETE "$PM/approval" -H "Authorization: Bearer $TA")" 405 &&
	expect_eq "$(allow)" POST &&
	expect_eq "$(http POST "$CC/$SEED" -H "Authorization: Bearer $TA")" 405 &&
	expect_eq "$(allow)" "GET, DELETE, HEAD" &&
	expect_eq "$(http GET "$UM/register" -H "Authorization: Bearer $TA")" 405 &&
	expect_eq "$(allow)" POST &&
	expect_eq "$(http DELETE "$UM/register/admin")" 405 &&
	expect_eq "$(allow)" POST &&
	expect_eq "$(http GET "$CM/nope/nope/nope")" 404
'

test_expect_success 'validation: blank names, lecture numbers below 1, negative amounts are 400' '
	expect_eq "$(send "$TA" POST "$CM" application/json "{\"courseName\":\"   \"}")" 400 &&
	expect_eq "$(msg)" "Failed to add course! Reason: courseName must not be blank: send at least one character other than white space" &&
	expect_eq "$(send "$TA" POST "$CM/update" application/json "{\"courseId\":\"$SEED\",\"courseName\":\"\\t \"}")" 400 &&
	msg | grep -q "courseName must not be blank" &&
	for s in 0 -1 "\"-3\""; do
		expect_eq "$(send "$TA" POST "$CC" application/json "{\"courseId\":\"$SEED\",\"contentSequence\":$s}")" 400 || return 1
		msg | grep -q "contentSequence must be between 1 and 2147483647" || return 1
	done &&
	expect_eq "$(send "$TU" POST "$PM" application/json "{\"courseId\":\"$SEED\",\"userId\":\"$UID_\",\"trxId\":\"t-neg\",\"amount\":-5}")" 400 &&
	msg | grep -q "amount must be between 0 and 2147483647" &&
	expect_eq "$(send "$TU" POST "$PM" application/json "{\"courseId\":\"$SEED\",\"userId\":\"$UID_\",\"trxId\":\"  \",\"amount\":5}")" 400 &&
	msg | grep -q "trxId must not be blank" &&
	expect_eq "$(send "$TU" POST "$PM" application/json "{\"courseId\":\"$SEED\",\"userId\":\"$UID_\",\"trxId\":\"t-zero\",\"amount\":0}")" 200
'

test_expect_success 'concurrent lecture adds get distinct sequence numbers' '
	send "$TA" POST "$CM" application/json "{\"courseName\":\"Race\"}" >/dev/null &&
	C=$(sql elp_course "SELECT course_id FROM course WHERE course_name = \"Race\"") &&
	pids= &&
	for i in 1 2 3 4 5 6 7 8; do
		curl -s -o /dev/null -w "%{http_code}\n" -H "Authorization: Bearer $TA" \
		    -H "Content-Type: application/json" \
		    --data-binary "{\"courseId\":\"$C\",\"contentTitle\":\"L$i\"}" "$CC" >"$T/lec.$i" &
		pids="$pids $!"
	done && wait $pids &&
	expect_eq "$(cat "$T"/lec.* | sort -u)" 200 &&
	expect_eq "$(sql elp_course "SELECT GROUP_CONCAT(content_sequence ORDER BY content_sequence) FROM course_content WHERE course_id = \"$C\"")" \
	    "1,2,3,4,5,6,7,8"
'

test_expect_success 'logout without id_token_hint asks first; the form ends the session' '
	oidc flow "$T/jar" user@example.com "$PW" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rt" &&
	oidc get "$T/jar" "$OIDC/logout?post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A4200&client_id=spa-client&state=s1" &&
	expect_eq "$(json "j[\"status\"]")" 200 &&
	json "j[\"body\"]" | grep -q "<form method=\"post\" action=\"logout\">" &&
	json "j[\"body\"]" | grep -q "name=\"csrf\" value=\"[A-Za-z0-9_-]\{43\}\"" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rt")" client_id=spa-client &&
	expect_eq "$(json "j[\"status\"]")" 200 &&
	json "j[\"body\"][\"refresh_token\"]" >"$T/rt" &&
	# A cross-site POST without the token: the page again, session kept.
	expect_eq "$(http POST "$OIDC/logout" -H "Cookie: $(python3 -c "import json,sys; print(\"; \".join(\"%s=%s\" % kv for kv in json.load(open(sys.argv[1])).items()))" "$T/jar")" \
	    -d client_id=spa-client -d csrf=forged)" 200 &&
	grep -q "Do you want to log out" "$T/body" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rt")" client_id=spa-client &&
	expect_eq "$(json "j[\"status\"]")" 200 &&
	json "j[\"body\"][\"refresh_token\"]" >"$T/rt" &&
	oidc submit "$T/jar" "$OIDC/logout?post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A4200&client_id=spa-client&state=s2" &&
	expect_eq "$(json "j[\"status\"]")" 302 &&
	expect_eq "$(json "j[\"location\"]")" "http://localhost:4200?state=s2" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rt")" client_id=spa-client &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant
'

test_expect_success 'logout with a valid id_token_hint ends the session at once' '
	oidc flow "$T/jar2" user@example.com "$PW" &&
	json "j[\"token\"][\"body\"][\"id_token\"]" >"$T/id2" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rt2" &&
	oidc get "$T/jar2" "$OIDC/logout?id_token_hint=$(cat "$T/id2")&post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A4200" &&
	expect_eq "$(json "j[\"status\"]")" 302 &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rt2")" client_id=spa-client &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant
'

test_expect_success 'discovery lists only the implemented response types and modes' '
	expect_eq "$(http GET "$ISS/.well-known/openid-configuration")" 200 &&
	expect_eq "$(json "j[\"response_modes_supported\"]")" "[\"query\"]" &&
	expect_eq "$(json "j[\"response_types_supported\"]")" "[\"code\"]"
'

test_done
