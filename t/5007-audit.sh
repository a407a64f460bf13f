#!/bin/sh
# The admins' audit trail of elp-course through the gateway with real
# tokens from elp-auth (docs/contract/api.md 4.7): a payment decision
# keeps who decided and when (payment.decided_by, decided_at) and is an
# event; a course edit (with what changed), a lecture added and a lecture
# deleted are events with the admin's id and the request id; filters and
# paging; a USER gets 403 on the audit, no token 401.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
JWKS=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs
PW='Secr3t#pass'
NOPE=00000000-0000-4000-8000-000000000000

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

# post TOKEN URL REQID JSON
post() {
	http POST "$2" -H "Authorization: Bearer $1" -H "X-Request-Id: $3" \
	    -H 'Content-Type: application/json' --data-binary "$4"
}

# audit TOKEN QUERY: GET /course-management-api/audit?QUERY.
audit() {
	if [ -n "$1" ]; then
		http GET "$CM/audit?$2" -H "Authorization: Bearer $1"
	else
		http GET "$CM/audit?$2"
	fi
}

# course_sql SQL: rows of elp_course, tab-separated, no headers.
course_sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_course -N -B -e "$1"
}

# event ACTION TARGET: the newest event of ACTION on TARGET in the body
# (an audit answer) becomes the body; fails when there is none.
event() {
	python3 -c 'import json, sys
for e in json.load(open(sys.argv[1]))["responseBody"]["events"]:
    if e["action"] == sys.argv[2] and e["target"] == sys.argv[3]:
        json.dump(e, open(sys.argv[1] + ".ev", "w")); sys.exit(0)
sys.exit("no %s event on %s" % (sys.argv[2], sys.argv[3]))' "$T/body" "$1" "$2" &&
	mv "$T/body.ev" "$T/body"
}

test_expect_success 'start MariaDB, elp-auth, elp-course and the gateway' '
	db_up && auth_up &&
	mkdir -p "$T/conf/services" &&
	cat >"$T/conf/services/course.xml" <<XML &&
<service name="course">
  <log level="info"/>
  <pool listen="unix:$T/run/course.sock" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_course"
            user="elp_course" password-file="$T/var/secrets/db-course.pw"
            connect-timeout="1s" timeout="5s"/>
  <limits max-body="64k" max-page-size="1000"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" leeway="5s"
        refresh-min="1s"/>
</service>
XML
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"2\"/>" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>
  <route listen=\"api\" prefix=\"/course-content-management-api\" service=\"course\" rewrite=\"/course-content\"/>
  <route listen=\"api\" prefix=\"/payment-management-api\" service=\"course\" rewrite=\"/payment\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	create_user admin2@example.com ADMIN >"$T/admin2.id" &&
	create_user user@example.com USER >"$T/user.id"
'
A=http://127.0.0.1:$API_PORT
CM=$A/course-management-api
CC=$A/course-content-management-api
PM=$A/payment-management-api
AID=$(cat "$T/admin.id" 2>/dev/null)
A2ID=$(cat "$T/admin2.id" 2>/dev/null)
UID_=$(cat "$T/user.id" 2>/dev/null)
TA=$(token admin@example.com)
TA2=$(token admin2@example.com)
TU=$(token user@example.com)

test_expect_success 'tokens were issued' '
	test -n "$TA" && test -n "$TA2" && test -n "$TU" && test -n "$AID" && test -n "$UID_"
'

test_expect_success 'an admin creates and edits a course, adds and deletes a lecture' '
	expect_eq "$(post "$TA" "$CM" t5007-create "{\"courseName\":\"Audit 101\",\"courseFee\":100,\"isEnrollmentEnabled\":true}")" 201 &&
	json "j[\"responseBody\"][\"course\"][\"courseId\"]" >"$T/c" &&
	C=$(cat "$T/c") &&
	expect_eq "$(post "$TA" "$CM/update" t5007-edit "{\"courseId\":\"$C\",\"courseName\":\"Audit 102\",\"courseFee\":150,\"isEnrollmentEnabled\":true}")" 200 &&
	expect_eq "$(post "$TA" "$CC" t5007-add1 "{\"courseId\":\"$C\",\"contentTitle\":\"Keep me\",\"contentUrl\":\"file-system-storage/k.mp4\"}")" 200 &&
	expect_eq "$(post "$TA" "$CC" t5007-add2 "{\"courseId\":\"$C\",\"contentTitle\":\"Delete me\",\"contentUrl\":\"file-system-storage/d.mp4\"}")" 200 &&
	course_sql "SELECT content_id FROM course_content WHERE content_title = '\''Delete me'\''" >"$T/l" &&
	test -s "$T/l" &&
	expect_eq "$(http DELETE "$CC/$(cat "$T/l")" -H "Authorization: Bearer $TA" -H "X-Request-Id: t5007-delete")" 200 &&
	expect_eq "$(http DELETE "$CC/$NOPE" -H "Authorization: Bearer $TA" -H "X-Request-Id: t5007-delete-nope")" 417
'

test_expect_success 'payment decisions keep who decided and when' '
	C=$(cat "$T/c") &&
	expect_eq "$(post "$TU" "$PM" t5007-pay1 "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-A\",\"amount\":150}")" 200 &&
	expect_eq "$(course_sql "SELECT COALESCE(decided_by, \"-\") FROM payment WHERE trx_id = \"TRX-A\"")" - &&
	expect_eq "$(post "$TA" "$PM/approval" t5007-approve "{\"trxId\":\"TRX-A\",\"status\":\"APPROVED\"}")" 200 &&
	expect_eq "$(post "$TA2" "$PM/approval" t5007-deny "{\"trxId\":\"TRX-A\",\"status\":\"DENIED\"}")" 200 &&
	expect_eq "$(course_sql "SELECT decided_by, status, TIMESTAMPDIFF(SECOND, decided_at, UTC_TIMESTAMP(3)) < 60 FROM payment WHERE trx_id = \"TRX-A\"")" \
	    "$A2ID	DENIED	1" &&
	expect_eq "$(post "$TA" "$PM/approval" t5007-approve2 "{\"trxId\":\"TRX-A\",\"status\":\"APPROVED\"}")" 200 &&
	expect_eq "$(course_sql "SELECT decided_by, status FROM payment WHERE trx_id = \"TRX-A\"")" "$AID	APPROVED"
'

test_expect_success 'the audit holds every change with the admin, the request id and the change' '
	C=$(cat "$T/c") &&
	L=$(cat "$T/l") &&
	P=$(course_sql "SELECT payment_id FROM payment WHERE trx_id = \"TRX-A\"") &&
	expect_eq "$(audit "$TA" "limit=100")" 200 &&
	cp "$T/body" "$T/all" &&
	expect_eq "$(json "[e[\"action\"] for e in j[\"responseBody\"][\"events\"]]")" \
	    "[\"PAYMENT_DECISION\", \"PAYMENT_DECISION\", \"PAYMENT_DECISION\", \"CONTENT_DELETE\", \"CONTENT_ADD\", \"CONTENT_ADD\", \"COURSE_UPDATE\", \"COURSE_CREATE\"]" &&
	event COURSE_UPDATE "$C" &&
	expect_eq "$(json "[j[\"actor\"], j[\"actorName\"], j[\"requestId\"], j[\"targetType\"]]")" "[\"$AID\", \"admin@example.com\", \"t5007-edit\", \"course\"]" &&
	expect_eq "$(json "json.dumps(j[\"details\"][\"changes\"], sort_keys=True)")" "{\"courseFee\": {\"from\": 100, \"to\": 150}, \"courseName\": {\"from\": \"Audit 101\", \"to\": \"Audit 102\"}}" &&
	cp "$T/all" "$T/body" && event COURSE_CREATE "$C" &&
	expect_eq "$(json "[j[\"actor\"], j[\"requestId\"], j[\"details\"][\"after\"][\"courseName\"]]")" "[\"$AID\", \"t5007-create\", \"Audit 101\"]" &&
	cp "$T/all" "$T/body" && event CONTENT_DELETE "$L" &&
	expect_eq "$(json "[j[\"actor\"], j[\"requestId\"], j[\"details\"][\"before\"][\"contentTitle\"], j[\"details\"][\"before\"][\"courseId\"]]")" "[\"$AID\", \"t5007-delete\", \"Delete me\", \"$C\"]" &&
	cp "$T/all" "$T/body" && event CONTENT_ADD "$L" &&
	expect_eq "$(json "[j[\"requestId\"], j[\"details\"][\"after\"][\"contentTitle\"]]")" "[\"t5007-add2\", \"Delete me\"]" &&
	cp "$T/all" "$T/body" && event PAYMENT_DECISION "$P" &&
	expect_eq "$(json "[j[\"actor\"], j[\"requestId\"], j[\"details\"][\"trxId\"], j[\"details\"][\"changes\"][\"status\"]]")" \
	    "[\"$AID\", \"t5007-approve2\", \"TRX-A\", {\"from\": \"DENIED\", \"to\": \"APPROVED\"}]" &&
	expect_eq "$(json "j[\"time\"][:2] == \"20\" and j[\"time\"].endswith(\"+00:00\")")" true
'

test_expect_success 'audit filters (actor, target, action) and paging' '
	C=$(cat "$T/c") &&
	expect_eq "$(audit "$TA" "actor=$A2ID")" 200 &&
	expect_eq "$(json "[(e[\"action\"], e[\"requestId\"], e[\"details\"][\"changes\"][\"status\"][\"to\"]) for e in j[\"responseBody\"][\"events\"]]")" \
	    "[[\"PAYMENT_DECISION\", \"t5007-deny\", \"DENIED\"]]" &&
	expect_eq "$(audit "$TA" "target=$C")" 200 &&
	expect_eq "$(json "[e[\"action\"] for e in j[\"responseBody\"][\"events\"]]")" "[\"COURSE_UPDATE\", \"COURSE_CREATE\"]" &&
	expect_eq "$(audit "$TA" "action=CONTENT_ADD&limit=1&pageNumber=1")" 200 &&
	expect_eq "$(json "[e[\"requestId\"] for e in j[\"responseBody\"][\"events\"]]")" "[\"t5007-add1\"]" &&
	expect_eq "$(audit "$TA" "limit=0")" 400
'

test_expect_success 'a USER gets 403 on the audit, no token 401' '
	expect_eq "$(audit "$TU" "")" 403 &&
	expect_eq "$(audit "" "")" 401
'

test_done
