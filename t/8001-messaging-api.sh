#!/bin/sh
# elp-messaging through the gateway with real elp-auth, elp-user and
# elp-course: the internal events API (service tokens only, body checks,
# idempotent eventIds), the events of the real flows (registration ->
# welcome, payment submitted -> every ADMIN, approval -> the payer), the
# public API (paged list with unread count, read one, read all, someone
# else's notification is 404), and the mails of the outbox reaching a real
# SMTP server.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
ADMIN_BASE=http://127.0.0.1:$ADMIN_PORT
A=http://127.0.0.1:$API_PORT
M=$A/messaging-api/notifications
EV=$ADMIN_BASE/internal/messaging/events
PW='Secr3t#pass'
COURSE=550e8400-e29b-41d4-a716-446655440001	# seeded
NOPE=00000000-0000-4000-8000-000000000000

create_user() {	# create_user EMAIL ROLE FIRST: prints the id
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first "$3" --last Tester --role "$2"
}

token() {	# token EMAIL: an access token from the password grant
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# call TOKEN METHOD URL [BODY]: http with the token ("" = none).
call() {
	set -- "$1" "$2" "$3" "${4:-}"
	if [ -n "$1" ]; then
		http "$2" "$3" -H "Authorization: Bearer $1" \
		    ${4:+-H "Content-Type: application/json" --data-binary "$4"}
	else
		http "$2" "$3" ${4:+-H "Content-Type: application/json" --data-binary "$4"}
	fi
}

msg() {
	json 'j["errorBody"]["errorMessage"] if "errorBody" in j else j["responseBody"]["message"]'
}

# event TYPE EVENTID USERID [EXTRA JSON MEMBERS]: an event body.
event() {
	printf '{"eventId":"%s","type":"%s","userId":"%s"%s}' "$2" "$1" "$3" \
	    "${4:+,$4}"
}

course_name() {	# the name of $COURSE in elp_course
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_course -N -B \
	    -e "SELECT course_name FROM course WHERE course_id = \"$COURSE\""
}

user_conf() {
	cat >"$T/conf/services/user.xml" <<XML
<service name="user">
  <log level="info"/>
  <pool listen="unix:$T/run/user.sock" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_user"
            user="elp_user" password-file="$T/var/secrets/db-user.pw"
            connect-timeout="1s" timeout="3s"/>
  <auth jwks-url="$ADMIN_BASE/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="$ISS" audience="elp-api" refresh-min="1s"/>
  <idp base-url="$ADMIN_BASE" client-id="elp-user"
       secret-file="$T/var/secrets/auth-elp-user.secret" timeout="3s"/>
  $(messaging_notify elp-user)
</service>
XML
}

test_expect_success 'start MariaDB, elp-auth, SMTP, elp-messaging, elp-user, elp-course, gateway' '
	db_up && auth_up && smtp_up && messaging_up &&
	user_conf &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	COURSE_EXTRA=$(messaging_notify elp-course) course_up course 2 &&
	wait_for test -S "$T/run/user.sock" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/user-management-api\" service=\"user\" rewrite=\"/user\"/>
  <route listen=\"api\" prefix=\"/payment-management-api\" service=\"course\" rewrite=\"/payment\"/>" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	wait_for curl -sf "$ADMIN_BASE/health/messaging" &&
	create_user admin1@example.com ADMIN Ada >"$T/admin1.id" &&
	create_user admin2@example.com ADMIN Bob >"$T/admin2.id" &&
	create_user bob@example.com USER Bob >"$T/bob.id"
'
ADMIN1=$(cat "$T/admin1.id" 2>/dev/null)
ADMIN2=$(cat "$T/admin2.id" 2>/dev/null)
BOB=$(cat "$T/bob.id" 2>/dev/null)
TA=$(token admin1@example.com)
TB=$(token bob@example.com)
TS=$(svc_token elp-course)

test_expect_success 'tokens were issued' '
	test -n "$TA" && test -n "$TB" && test -n "$TS" && test -n "$BOB"
'

test_expect_success 'internal API: no token 401, a user token 403, service token 201' '
	E1=$(cat /proc/sys/kernel/random/uuid) &&
	expect_eq "$(call "" POST "$EV" "$(event user.registered "$E1" "$BOB")")" 401 &&
	expect_eq "$(call "$TA" POST "$EV" "$(event user.registered "$E1" "$BOB")")" 403 &&
	expect_eq "$(msg)" "Access Denied" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.registered "$E1" "$BOB")")" 201 &&
	expect_eq "$(json "[j[\"responseBody\"][k] for k in (\"eventId\", \"notifications\", \"mails\", \"duplicates\")]")" \
	    "[\"$E1\", 1, 1, 0]" &&
	echo "$E1" >"$T/e1"
'

test_expect_success 'internal API: the same eventId again is a no-op (200)' '
	E1=$(cat "$T/e1") &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.registered "$E1" "$BOB")")" 200 &&
	expect_eq "$(msg)" "Event already processed" &&
	expect_eq "$(json "j[\"responseBody\"][\"duplicates\"]")" 1 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification WHERE event_id = \"$E1\"")" 1 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox o JOIN notification n ON n.id = o.notification_id WHERE n.event_id = \"$E1\"")" 1
'

test_expect_success 'internal API: bad bodies are 400 naming the problem; nothing stored' '
	before=$(msg_sql "SELECT COUNT(*) FROM notification") &&
	E=$(cat /proc/sys/kernel/random/uuid) &&
	F="Failed to accept event! Reason: " &&
	expect_eq "$(call "$TS" POST "$EV" "not json")" 400 &&
	expect_eq "$(call "$TS" POST "$EV" "[1]")" 400 &&
	expect_eq "$(call "$TS" POST "$EV" "{\"type\":\"user.registered\",\"userId\":\"$BOB\"}")" 400 &&
	expect_eq "$(msg)" "${F}eventId is required" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.registered not-a-uuid "$BOB")")" 400 &&
	expect_eq "$(msg)" "${F}Invalid UUID for eventId: not-a-uuid" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.deleted "$E" "$BOB")")" 400 &&
	expect_eq "$(msg)" "${F}Unknown event type: user.deleted" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.registered "$E" 42)")" 400 &&
	expect_eq "$(msg)" "${F}Invalid UUID for userId: 42" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event payment.approved "$E" "$BOB" "\"courseId\":\"$COURSE\",\"trxId\":\"T-1\"")")" 400 &&
	expect_eq "$(msg)" "${F}courseName is required" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event payment.approved "$E" "$BOB" "\"courseId\":\"$COURSE\",\"courseName\":\"C\",\"trxId\":\"T-1\",\"amount\":\"lots\"")")" 400 &&
	expect_eq "$(msg)" "${F}amount must be an integer" &&
	expect_eq "$(call "$TS" POST "$EV" "$(event user.registered "$E" "$NOPE")")" 400 &&
	expect_eq "$(msg)" "${F}Unknown user $NOPE" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification")" "$before"
'

# notified TOKEN N: the caller has N notifications.
notified() {
	[ "$(call "$1" GET "$M")" = 200 ] &&
	    [ "$(json "len(j[\"responseBody\"][\"notifications\"])")" = "$2" ]
}

test_expect_success 'registration through elp-user: the new user gets a welcome' '
	expect_eq "$(call "" POST "$A/user-management-api/register" "{\"email\":\"alice@example.com\",\"password\":\"$PW\",\"firstName\":\"Alice\",\"lastName\":\"Liddell\"}")" 201 &&
	TAL=$(token alice@example.com) && echo "$TAL" >"$T/tal" &&
	# Queued with the profile, posted by elp-user'"'"'s background process.
	wait_for notified "$TAL" 1 &&
	expect_eq "$(call "$TAL" GET "$M")" 200 &&
	expect_eq "$(json "[(n[\"type\"], n[\"title\"], n[\"read\"]) for n in j[\"responseBody\"][\"notifications\"]]")" \
	    "[[\"user.registered\", \"Welcome to the E-Learning Platform, Alice Liddell\", false]]"
'

test_expect_success 'payment submitted through elp-course: every ADMIN gets one' '
	TAL=$(cat "$T/tal") &&
	ALICE=$(python3 -c "import base64,json,sys; p=sys.argv[1].split(\".\")[1]; print(json.loads(base64.urlsafe_b64decode(p+\"=\"*(-len(p)%4)))[\"sub\"])" "$TAL") &&
	echo "$ALICE" >"$T/alice.id" &&
	expect_eq "$(call "$TAL" POST "$A/payment-management-api" "{\"courseId\":\"$COURSE\",\"userId\":\"$ALICE\",\"trxId\":\"TRX-8001\",\"amount\":1200}")" 200 &&
	wait_for loggrep messaging.log "event [0-9a-f-]+ \(payment.submitted\): 2 notification" &&
	CN=$(course_name) && test -n "$CN" &&
	( for id in "$ADMIN1" "$ADMIN2"; do
		expect_eq "$(msg_sql "SELECT kind, title FROM notification WHERE user_id = \"$id\" AND kind = \"payment.submitted\"" | tr "\t" "|")" \
		    "payment.submitted|New payment for $CN to review" || exit 1
	done ) &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification WHERE kind = \"payment.submitted\"")" 2 &&
	expect_eq "$(call "$TA" GET "$M")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"notifications\"][0][\"type\"]")" payment.submitted &&
	expect_eq "$(json "\"TRX-8001\" in j[\"responseBody\"][\"notifications\"][0][\"body\"] and \"Alice Liddell\" in j[\"responseBody\"][\"notifications\"][0][\"body\"]")" true
'

test_expect_success 'approval through elp-course: the payer gets one; IN-REVIEW sends none' '
	TAL=$(cat "$T/tal") &&
	expect_eq "$(call "$TA" POST "$A/payment-management-api/approval" "{\"trxId\":\"TRX-8001\",\"status\":\"IN-REVIEW\"}")" 200 &&
	expect_eq "$(call "$TA" POST "$A/payment-management-api/approval" "{\"trxId\":\"TRX-8001\",\"status\":\"APPROVED\"}")" 200 &&
	wait_for loggrep messaging.log "event [0-9a-f-]+ \(payment.approved\): 1 notification" &&
	expect_eq "$(call "$TAL" GET "$M")" 200 &&
	expect_eq "$(json "[n[\"type\"] for n in j[\"responseBody\"][\"notifications\"]]")" \
	    "[\"payment.approved\", \"user.registered\"]" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification WHERE kind LIKE \"payment.%\"")" 3
'

# course_sql SQL: runs SQL in elp_course as the server's admin account.
course_sql() {
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user=root elp_course -N -B -e "$1"
}

test_expect_success 'elp-messaging down: the payment succeeds, its event waits in elp-course and arrives once' '
	TAL=$(cat "$T/tal") && ALICE=$(cat "$T/alice.id") &&
	stop_pid $pid_messaging &&
	expect_eq "$(call "$TAL" POST "$A/payment-management-api" "{\"courseId\":\"550e8400-e29b-41d4-a716-446655440000\",\"userId\":\"$ALICE\",\"trxId\":\"TRX-8002\",\"amount\":900}")" 200 &&
	expect_eq "$(course_sql "SELECT type FROM event_outbox")" payment.submitted &&
	wait_for loggrep course.log "events: [0-9a-f-]+ \(payment.submitted\) not delivered" &&
	expect_eq "$(course_sql "SELECT COUNT(*) FROM event_outbox WHERE state = \"pending\"")" 1 &&
	spawn messaging "$BIN/elp-messaging" -c "$T/conf/services/messaging.xml" &&
	wait_long 60 sh -c "test \"\$(mariadb --no-defaults --socket=$T/var/mariadb/mysqld.sock --user=root elp_course -N -B -e \"SELECT COUNT(*) FROM event_outbox\")\" = 0" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification WHERE kind = \"payment.submitted\"")" 4 &&
	sleep 1.5 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification WHERE kind = \"payment.submitted\"")" 4
'

test_expect_success 'list: paged, newest first, unread count; bad paging 400' '
	TAL=$(cat "$T/tal") && ALICE=$(cat "$T/alice.id") &&
	( for i in 1 2 3; do
		expect_eq "$(call "$TS" POST "$EV" "$(event user.registered "$(cat /proc/sys/kernel/random/uuid)" "$ALICE")")" 201 || exit 1
	done ) &&
	expect_eq "$(call "$TAL" GET "$M?pageNumber=0&limit=2")" 200 &&
	expect_eq "$(json "[j[\"responseBody\"][k] for k in (\"totalCount\", \"unreadCount\", \"pageNumber\", \"limit\")]")" "[5, 5, 0, 2]" &&
	expect_eq "$(json "len(j[\"responseBody\"][\"notifications\"])")" 2 &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"notifications\"][0])")" \
	    "[\"body\", \"createdAt\", \"eventId\", \"notificationId\", \"read\", \"readAt\", \"title\", \"type\"]" &&
	expect_eq "$(call "$TAL" GET "$M?pageNumber=2&limit=2")" 200 &&
	expect_eq "$(json "[n[\"type\"] for n in j[\"responseBody\"][\"notifications\"]]")" "[\"user.registered\"]" &&
	expect_eq "$(call "$TAL" GET "$M?pageNumber=9&limit=2")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"notifications\"]")" "[]" &&
	expect_eq "$(call "$TAL" GET "$M?pageNumber=-1")" 400 &&
	expect_eq "$(msg)" "Failed to fetch notifications! Reason: Page index must not be less than zero" &&
	expect_eq "$(call "$TAL" GET "$M?limit=0")" 400 &&
	expect_eq "$(msg)" "Failed to fetch notifications! Reason: Page size must not be less than one" &&
	expect_eq "$(call "$TAL" GET "$M?limit=abc")" 400 &&
	expect_eq "$(call "$TAL" GET "$M?limit=101")" 400 &&
	expect_eq "$(msg)" "Failed to fetch notifications! Reason: Page size must not be greater than 100" &&
	expect_eq "$(call "" GET "$M")" 401
'

test_expect_success 'read one: own only, idempotent; others 404; bad id 400' '
	TAL=$(cat "$T/tal") &&
	call "$TAL" GET "$M?limit=1" >/dev/null &&
	N=$(json "j[\"responseBody\"][\"notifications\"][0][\"notificationId\"]") &&
	expect_eq "$(call "$TB" POST "$M/$N/read")" 404 &&
	expect_eq "$(msg)" "No notification found for this id!" &&
	expect_eq "$(call "$TAL" POST "$M/$N/read")" 200 &&
	expect_eq "$(msg)" "Notification marked as read" &&
	call "$TAL" GET "$M?limit=1" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"unreadCount\"]")" 4 &&
	expect_eq "$(json "j[\"responseBody\"][\"notifications\"][0][\"read\"]")" true &&
	R1=$(json "j[\"responseBody\"][\"notifications\"][0][\"readAt\"]") &&
	expect_eq "$(call "$TAL" POST "$M/$N/read")" 200 &&
	call "$TAL" GET "$M?limit=1" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"notifications\"][0][\"readAt\"]")" "$R1" &&
	expect_eq "$(call "$TAL" POST "$M/$NOPE/read")" 404 &&
	expect_eq "$(call "$TAL" POST "$M/nope/read")" 400 &&
	expect_eq "$(msg)" "Failed to mark notification as read! Reason: Invalid UUID: nope" &&
	expect_eq "$(call "" POST "$M/$N/read")" 401
'

test_expect_success 'read-all: marks the rest, leaves other users alone' '
	TAL=$(cat "$T/tal") &&
	expect_eq "$(call "$TAL" POST "$M/read-all")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"updated\"]")" 4 &&
	call "$TAL" GET "$M" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"unreadCount\"]")" 0 &&
	call "$TA" GET "$M" >/dev/null &&
	# The two payment.submitted of TRX-8001 and TRX-8002.
	expect_eq "$(json "j[\"responseBody\"][\"unreadCount\"]")" 2 &&
	expect_eq "$(call "$TAL" POST "$M/read-all")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"updated\"]")" 0
'

# all_mailed: as many stored messages as outbox rows.
all_mailed() {
	[ "$(mail_ids | wc -l)" -eq "$(msg_sql "SELECT COUNT(*) FROM outbox")" ]
}

test_expect_success 'every notification went out once by mail, with its Message-ID' '
	wait_long 30 outbox_settled &&
	wait_long 10 all_mailed &&
	expect_eq "$(mail_ids | uniq -d)" "" &&
	expect_eq "$(mail_ids)" "$(msg_sql "SELECT message_id FROM outbox ORDER BY message_id" | sort)" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state <> \"sent\"")" 0 &&
	f=$(grep -l "^To: <alice@example.com>" "$T"/mail/*.eml | head -n 1) &&
	grep -q "^Subject: Welcome to the E-Learning Platform, Alice Liddell" "$f" &&
	grep -q "^From: \"E-Learning Platform\" <noreply@elp.test>" "$f" &&
	grep -q "^Content-Transfer-Encoding: quoted-printable" "$f"
'

test_expect_success 'the services logged no token, secret or server error' '
	( for s in $(cat "$T"/var/secrets/auth-*.secret); do
		! grep -F -q "$s" "$T"/log/*.log || exit 1
	done ) &&
	! grep -F -q "$TS" "$T"/log/*.log &&
	! grep -E -q " error: " "$T"/log/messaging.log "$T"/log/course.log "$T"/log/user.log
'

test_done
