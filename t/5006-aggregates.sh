#!/bin/sh
# The aggregates shipped in conf/gateway.xml on the real stack (MariaDB,
# elp-auth, elp-course, elp-user, elp-messaging): the course page with and
# without a token and for a course that does not exist, the dashboard with
# and without a token and for a caller without a profile, and the unread
# count of elp-messaging (docs/contract/api.md 8).
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'
C1=550e8400-e29b-41d4-a716-446655440002	# seeded courses
C2=550e8400-e29b-41d4-a716-446655440001
NOBODY=00000000-0000-4000-8000-000000000000

token() {	# token EMAIL: an access token from the password grant
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

create_user() {	# create_user EMAIL: prints its id
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role USER
}

sql() {	# sql DB SQL: as the server's admin account
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" "$1" -N -B -e "$2"
}

# The services' configuration as shipped, pointed at this test's files.
svc_conf() {	# svc_conf NAME
	sed -e "s|unix:[./]*var/run/$1.sock|unix:$T/run/$1.sock|" \
	    -e "s|\"[./]*var/mariadb/mysqld.sock|\"$T/var/mariadb/mysqld.sock|" \
	    -e "s|\"[./]*var/secrets/|\"$T/var/secrets/|g" \
	    -e "s|http://127.0.0.1:9190|http://127.0.0.1:$ADMIN_PORT|g" \
	    -e "s|http://localhost:8080|http://127.0.0.1:$IDP_PORT|g" \
	    -e "/<register /,/\/>/d" \
	    "$ROOT/conf/services/$1.xml" >"$T/conf/services/$1.xml"
}

test_expect_success 'start the stack with the aggregates of conf/gateway.xml' '
	db_up && auth_up && course_up && messaging_up &&
	svc_conf user &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>
$(python3 -c "import sys, xml.etree.ElementTree as E
for a in E.parse(sys.argv[1]).getroot().iter(\"aggregate\"):
    print(\"  \" + E.tostring(a, encoding=\"unicode\").strip())" "$ROOT/conf/gateway.xml")" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	grep -q "aggregate-api/dashboard" "$T/conf/gateway.xml"
'
A=http://127.0.0.1:$API_PORT/aggregate-api

test_expect_success 'a user with a profile, an APPROVED enrollment and two unread notifications' '
	create_user learner@example.com >"$T/sub" && S=$(cat "$T/sub") &&
	create_user newbie@example.com >"$T/sub2" &&
	sql elp_user "INSERT INTO \`user\` (user_id, first_name, last_name, email) VALUES (\"$S\", \"Lea\", \"Rner\", \"learner@example.com\")" &&
	sql elp_course "INSERT INTO enrollment (enrollment_id, course_id, user_id, status) VALUES (UUID(), \"$C1\", \"$S\", \"APPROVED\")" &&
	for k in 1 2 3; do
		sql elp_messaging "INSERT INTO notification (id, user_id, event_id, kind, title, body, read_at) VALUES (UUID(), \"$S\", UUID(), \"test\", \"t$k\", \"b\", IF($k = 3, NOW(3), NULL))" || return 1
	done &&
	TOK=$(token learner@example.com) && [ -n "$TOK" ] &&
	TOK2=$(token newbie@example.com) && [ -n "$TOK2" ]
'

test_expect_success 'course page without a token: course and outline, enrollment null' '
	expect_eq "$(http GET "$A/course-page/$C1")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"course\"][\"courseId\"]")" "$C1" &&
	expect_eq "$(json "type(j[\"responseBody\"][\"contents\"][\"courseContentsPreview\"]).__name__")" list &&
	expect_eq "$(json "j[\"responseBody\"][\"enrollment\"]")" null &&
	expect_eq "$(json "\"errors\" in j")" false
'

test_expect_success 'course page with a token: the caller'"'"'s enrollment status' '
	expect_eq "$(http GET "$A/course-page/$C1" -H "Authorization: Bearer $TOK")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"enrollment\"][\"status\"]")" APPROVED &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"course\"][\"courseId\"]")" "$C1"
'

test_expect_success 'course page with a token, not enrolled: enrollment null, errors has its 404' '
	expect_eq "$(http GET "$A/course-page/$C2" -H "Authorization: Bearer $TOK")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"enrollment\"]")" null &&
	expect_eq "$(json "j[\"errors\"][\"enrollment\"][\"status\"]")" 404 &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"course\"][\"courseId\"]")" "$C2"
'

test_expect_success 'course page of a course that does not exist: the course part'"'"'s 404' '
	expect_eq "$(http GET "$A/course-page/$NOBODY")" 404 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "No course found for this course id!" &&
	expect_eq "$(http GET "$A/course-page/$NOBODY" -H "Authorization: Bearer $TOK")" 404 &&
	expect_eq "$(http GET "$A/course-page/not%20a%20uuid")" 400
'

test_expect_success 'dashboard without a token: 401 envelope' '
	expect_eq "$(http GET "$A/dashboard")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 401
'

test_expect_success 'dashboard: profile, enrolled courses, unread count' '
	expect_eq "$(http GET "$A/dashboard" -H "Authorization: Bearer $TOK" -H "X-Request-Id: dash-1")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"profile\"][\"user\"][\"userId\"]")" "$(cat "$T/sub")" &&
	expect_eq "$(json "[c[\"courseId\"] for c in j[\"responseBody\"][\"enrollments\"][\"enrolledCourseList\"]]")" "[\"$C1\"]" &&
	expect_eq "$(json "j[\"responseBody\"][\"notifications\"][\"unreadCount\"]")" 2 &&
	expect_eq "$(json "\"errors\" in j")" false &&
	grep "rid=dash-1" "$T/log/access.log" | grep -q "agg=/aggregate-api/dashboard parts=3"
'

test_expect_success 'dashboard of a caller without a profile: the profile part'"'"'s 404' '
	expect_eq "$(http GET "$A/dashboard" -H "Authorization: Bearer $TOK2")" 404 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "No user found for this user id!"
'

test_expect_success 'GET /messaging-api/notifications/unread-count: the caller'"'"'s own' '
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/messaging-api/notifications/unread-count" -H "Authorization: Bearer $TOK")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"unreadCount\"]")" 2 &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/messaging-api/notifications/unread-count" -H "Authorization: Bearer $TOK2")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"unreadCount\"]")" 0 &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/messaging-api/notifications/unread-count")" 401
'

test_done
