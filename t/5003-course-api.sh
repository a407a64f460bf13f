#!/bin/sh
# Course management, course contents and payments through the gateway with
# real tokens from elp-auth (docs/contract/api.md 4.2-4.4): success and contract
# failures per endpoint, body tolerance and validation, an access matrix
# of every protected endpoint, the purchase journey, and concurrent
# decisions on one payment.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
JWKS=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs
PW='Secr3t#pass'
NOPE=00000000-0000-4000-8000-000000000000
SEED=550e8400-e29b-41d4-a716-446655440002	# 3 lectures in the seed
SEED2=550e8400-e29b-41d4-a716-446655440001	# none

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

# call TOKEN METHOD URL [curl args]: http with the token ("" = none).
call() {
	tok=$1 m=$2 u=$3
	shift 3
	if [ -n "$tok" ]; then
		set -- -H "Authorization: Bearer $tok" "$@"
	fi
	http "$m" "$u" "$@"
}

# post TOKEN URL JSON
post() {
	call "$1" POST "$2" -H 'Content-Type: application/json' \
	    --data-binary "$3"
}

# msg: the error message of the last response.
msg() {
	json 'j["errorBody"]["errorMessage"]'
}

# course_conf_auth: elp-course with token checks against elp-auth's JWKS.
course_conf_auth() {
	mkdir -p "$T/conf/services"
	cat >"$T/conf/services/course.xml" <<XML
<service name="course">
  <log level="${COURSE_LOG_LEVEL:-info}"/>
  <pool listen="unix:$T/run/course.sock" workers="4" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_course"
            user="elp_course" password-file="$T/var/secrets/db-course.pw"
            connect-timeout="1s" timeout="5s"/>
  <limits max-body="64k" max-page-size="1000"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" leeway="5s"
        refresh-min="1s"/>
</service>
XML
}

test_expect_success 'start MariaDB, elp-auth, elp-course and the gateway' '
	db_up && auth_up && course_conf_auth &&
	# One gateway connection per worker: elp-auth runs 2 here, and the
	# course workers fetch the JWKS through the gateway.
	SERVICES_EXTRA=$(printf "%s\n" "$SERVICES_EXTRA" | sed "s/maxconn=.4./maxconn=\"2\"/") &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"4\"/>" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>
  <route listen=\"api\" prefix=\"/course-content-management-api\" service=\"course\" rewrite=\"/course-content\"/>
  <route listen=\"api\" prefix=\"/payment-management-api\" service=\"course\" rewrite=\"/payment\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	create_user user@example.com USER >"$T/user.id" &&
	create_user other@example.com USER >"$T/other.id" &&
	create_user third@example.com USER >"$T/third.id"
'
A=http://127.0.0.1:$API_PORT
CM=$A/course-management-api
CC=$A/course-content-management-api
PM=$A/payment-management-api
UID_=$(cat "$T/user.id" 2>/dev/null)
OID=$(cat "$T/other.id" 2>/dev/null)
TID=$(cat "$T/third.id" 2>/dev/null)
TA=$(token admin@example.com)
TU=$(token user@example.com)
TO=$(token other@example.com)
TT=$(token third@example.com)

test_expect_success 'tokens were issued' '
	test -n "$TA" && test -n "$TU" && test -n "$TO" && test -n "$TT" &&
	test -n "$UID_" && test -n "$OID"
'

# --- access matrix -----------------------------------------------------
# Each row: METHOD PATH BODY, then the statuses for no token, USER self
# (the path's or body's user), USER other, ADMIN. A body of - is none.
# Rows pass authorization to a harmless outcome (unknown ids), so nothing
# they do changes the data the later steps check.
cat >"$T/matrix" <<EOF
POST	/course-management-api	{"courseName":"Matrix course","courseFee":100}	401 403 403 201
POST	/course-management-api/update	{"courseId":"$NOPE","courseName":"x"}	401 403 403 400
GET	/course-management-api/enrollment/$UID_	-	401 200 403 200
GET	/course-management-api/enrollment/$SEED2/$UID_	-	401 404 403 404
GET	/course-content-management-api/$SEED	-	401 403 403 200
POST	/course-content-management-api	{"courseId":"$NOPE"}	401 403 403 400
DELETE	/course-content-management-api/$NOPE	-	401 403 403 417
GET	/payment-management-api	-	401 403 403 200
POST	/payment-management-api	{"courseId":"$NOPE","userId":"$UID_","trxId":"M-1"}	401 400 403 403
POST	/payment-management-api/approval	{"trxId":"no-such-trx","status":"APPROVED"}	401 403 403 417
EOF

# matrix_row LINE: checks one row, printing what differs.
matrix_row() {
	m=$(printf '%s' "$1" | cut -f1)
	p=$(printf '%s' "$1" | cut -f2)
	b=$(printf '%s' "$1" | cut -f3)
	want=$(printf '%s' "$1" | cut -f4)
	got=
	for tok in "" "$TU" "$TO" "$TA"; do
		if [ "$b" = - ]; then
			s=$(call "$tok" "$m" "$A$p")
		else
			s=$(call "$tok" "$m" "$A$p" -H "Content-Type: application/json" \
			    --data-binary "$b")
		fi
		got="$got${got:+ }$s"
	done
	expect_eq "$got" "$want" || { echo "row: $m $p" >&2; return 1; }
}

test_expect_success 'access matrix: none / USER self / USER other / ADMIN' '
	rc=0 &&
	while IFS= read -r line; do
		matrix_row "$line" || rc=1
	done <"$T/matrix" &&
	test $rc = 0
'

test_expect_success 'no token: 401 envelope with WWW-Authenticate: Bearer' '
	expect_eq "$(call "" GET "$PM")" 401 &&
	expect_eq "$(msg)" "Missing access token" &&
	expect_eq "$(json "j[\"httpStatus\"]")" UNAUTHORIZED &&
	grep -qi "^www-authenticate: Bearer" "$T/headers" &&
	expect_eq "$(call "" GET "$PM" -H "Authorization: Basic dTpw")" 401
'

test_expect_success 'refused token: 401 invalid_token on protected, ignored on public' '
	badtok=$(printf "%s" "$TA" | python3 -c "import sys; t=sys.stdin.read(); print(t[:-4] + (\"AAAA\" if t[-4:] != \"AAAA\" else \"BBBB\"))") &&
	expect_eq "$(call "$badtok" GET "$PM")" 401 &&
	grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" "$T/headers" &&
	expect_eq "$(call "$badtok" GET "$CM")" 200 &&
	expect_eq "$(call "$badtok" GET "$CC/$SEED/preview")" 200 &&
	expect_eq "$(call "$badtok" GET "$CM/$SEED")" 200
'

test_expect_success 'role failures are 403 Access Denied envelopes' '
	expect_eq "$(call "$TU" GET "$PM")" 403 &&
	expect_eq "$(msg)" "Access Denied" &&
	expect_eq "$(json "j[\"httpStatus\"]")" FORBIDDEN
'

# --- 4.2.1 create --------------------------------------------------------
test_expect_success 'create: 201 with the stored course, tolerant body' '
	expect_eq "$(post "$TA" "$CM" "{\"courseName\":\"Go Basics\",\"description\":\"d\",\"imageUrl\":\"file-system-storage/b.jpg\",\"isEnrollmentEnabled\":\"TRUE\",\"courseFee\":\"1500\",\"discount\":12.9,\"courseId\":\"$NOPE\",\"publishedAt\":\"1999-01-01\",\"enrollmentStatus\":\"APPROVED\",\"junk\":[1]}")" 201 &&
	expect_eq "$(json "j[\"httpStatus\"]")" CREATED &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully added course info" &&
	c=$(json "j[\"responseBody\"][\"course\"]") &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"course\"].keys())")" \
	    "[\"courseFee\", \"courseId\", \"courseName\", \"description\", \"discount\", \"enrollmentStatus\", \"imageUrl\", \"isEnrollmentEnabled\", \"publishedAt\"]" &&
	expect_eq "$(json "[j[\"responseBody\"][\"course\"][k] for k in (\"isEnrollmentEnabled\", \"courseFee\", \"discount\", \"enrollmentStatus\")]")" \
	    "[true, 1500, 12, null]" &&
	json "j[\"responseBody\"][\"course\"][\"courseId\"]" >"$T/course.id" &&
	test "$(cat "$T/course.id")" != "$NOPE" &&
	json "j[\"responseBody\"][\"course\"][\"publishedAt\"]" |
	    grep -Eq "^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}\+00:00$" &&
	expect_eq "$(call "" GET "$CM/$(cat "$T/course.id")")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"courseName\"]")" "Go Basics"
'
C=$(cat "$T/course.id" 2>/dev/null)

test_expect_success 'create: empty strings are null, booleans as false strings' '
	expect_eq "$(post "$TA" "$CM" "{\"courseName\":\"N\",\"courseFee\":\"\",\"discount\":\"\",\"isEnrollmentEnabled\":\"false\"}")" 201 &&
	expect_eq "$(json "[j[\"responseBody\"][\"course\"][k] for k in (\"isEnrollmentEnabled\", \"courseFee\", \"discount\", \"description\")]")" \
	    "[false, null, null, null]"
'

test_expect_success 'create: invalid bodies are 400 with the prefix, nothing stored' '
	call "" GET "$CM" >/dev/null && before=$(json "j[\"responseBody\"][\"totalCount\"]") &&
	long=$(python3 -c "print(\"x\" * 256)") && bad=0 &&
	for b in "{}" "{\"courseName\":\"\"}" "{\"courseName\":null}" "{\"courseName\":7}" \
	    "{\"courseName\":\"$long\"}" "{\"courseName\":\"a\",\"courseFee\":-1}" \
	    "{\"courseName\":\"a\",\"discount\":101}" "{\"courseName\":\"a\",\"discount\":\"abc\"}" \
	    "{\"courseName\":\"a\",\"isEnrollmentEnabled\":\"maybe\"}" \
	    "{\"courseName\":\"a\",\"courseFee\":true}" "[1]" "not json" ""; do
		expect_eq "$(post "$TA" "$CM" "$b")" 400 &&
		msg | grep -q "^Failed to add course! Reason: " || { echo "body: $b" >&2; bad=1; }
	done &&
	test $bad = 0 &&
	post "$TA" "$CM" "{\"courseName\":\"a\",\"discount\":101}" >/dev/null &&
	expect_eq "$(msg)" "Failed to add course! Reason: discount must be between 0 and 100" &&
	post "$TA" "$CM" "{}" >/dev/null &&
	expect_eq "$(msg)" "Failed to add course! Reason: courseName is required" &&
	call "" GET "$CM" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" "$before"
'

# --- 4.2.4 update --------------------------------------------------------
test_expect_success 'update: full replacement, publishedAt kept' '
	call "" GET "$CM/$C" >/dev/null && at=$(json "j[\"responseBody\"][\"course\"][\"publishedAt\"]") &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$(echo "$C" | tr a-f A-F)\",\"courseName\":\"Go Basics 2\",\"courseFee\":2000,\"isEnrollmentEnabled\":false}")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully updated course info" &&
	call "" GET "$CM/$C" >/dev/null &&
	expect_eq "$(json "[j[\"responseBody\"][\"course\"][k] for k in (\"courseName\", \"courseFee\", \"discount\", \"description\", \"imageUrl\", \"isEnrollmentEnabled\")]")" \
	    "[\"Go Basics 2\", 2000, null, null, null, false]" &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"publishedAt\"]")" "$at"
'

test_expect_success 'update: unknown, malformed or missing id and bad fields are 400' '
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$NOPE\",\"courseName\":\"x\"}")" 400 &&
	expect_eq "$(msg)" "Failed to update course! Reason: Course with id - $NOPE not found!" &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"nope\",\"courseName\":\"x\"}")" 400 &&
	expect_eq "$(msg)" "Failed to update course! Reason: Invalid UUID for courseId: nope" &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseName\":\"x\"}")" 400 &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$C\"}")" 400 &&
	expect_eq "$(msg)" "Failed to update course! Reason: courseName is required" &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$C\",\"courseName\":\"x\",\"discount\":-1}")" 400 &&
	call "" GET "$CM/$C" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"courseName\"]")" "Go Basics 2"
'

# qc_hits: the server's query cache hits so far.
qc_hits() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" -N -B -e "SHOW GLOBAL STATUS LIKE 'Qcache_hits'" |
	    cut -f2
}

# names: the course names of the list page in the last response.
names() {
	json "[c[\"courseName\"] for c in j[\"responseBody\"][\"courseList\"]]"
}

test_expect_success 'list: a page repeated comes from the query cache, and an update shows at once' '
	L="$CM?pageNumber=0&limit=1000" &&
	call "" GET "$L" >/dev/null && h0=$(qc_hits) && first=$(cat "$T/body") &&
	call "" GET "$L" >/dev/null && expect_eq "$(cat "$T/body")" "$first" &&
	test "$(qc_hits)" -gt "$h0" &&
	names | grep -q "Go Basics 2" &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$C\",\"courseName\":\"Go Basics 3\",\"courseFee\":2000,\"isEnrollmentEnabled\":false}")" 200 &&
	call "" GET "$L" >/dev/null && names | grep -q "Go Basics 3" &&
	! names | grep -q "Go Basics 2" &&
	expect_eq "$(post "$TA" "$CM/update" "{\"courseId\":\"$C\",\"courseName\":\"Go Basics 2\",\"courseFee\":2000,\"isEnrollmentEnabled\":false}")" 200 &&
	call "" GET "$L" >/dev/null && expect_eq "$(cat "$T/body")" "$first"
'

# --- 4.3 contents ----------------------------------------------------------
test_expect_success 'content add: sequence defaults to max+1, 200 at the gateway' '
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$C\",\"contentTitle\":\"L1\",\"contentType\":\"video/mp4\",\"contentUrl\":\"file-system-storage/a1.mp4\",\"contentId\":\"$NOPE\"}")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully added course content" &&
	expect_eq "$(json "j[\"httpStatus\"]")" OK &&
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$C\",\"contentTitle\":\"L5\",\"contentSequence\":\"5\",\"contentUrl\":\"file-system-storage/a5.mp4\"}")" 200 &&
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$C\",\"contentTitle\":\"L6\",\"contentUrl\":\"file-system-storage/a6.mp4\"}")" 200 &&
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$C\",\"contentTitle\":\"L0\",\"contentSequence\":0}")" 400 &&
	expect_eq "$(msg)" "Failed to add course content! Reason: contentSequence must be between 1 and 2147483647" &&
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$C\",\"contentTitle\":\"L0\",\"contentSequence\":1}")" 200 &&
	expect_eq "$(call "$TA" GET "$CC/$C")" 200 &&
	expect_eq "$(json "[(c[\"contentTitle\"], c[\"contentSequence\"]) for c in j[\"responseBody\"][\"courseContents\"]]")" \
	    "[[\"L1\", 1], [\"L0\", 1], [\"L5\", 5], [\"L6\", 6]]" &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"courseContents\"][0].keys())")" \
	    "[\"contentId\", \"contentSequence\", \"contentTitle\", \"contentType\", \"contentUrl\", \"courseId\"]" &&
	test "$(json "j[\"responseBody\"][\"courseContents\"][0][\"contentId\"]")" != "$NOPE" &&
	expect_eq "$(json "j[\"responseBody\"][\"courseContents\"][0][\"contentUrl\"]")" "file-system-storage/a1.mp4"
'

test_expect_success 'content add: unknown course, bad url, bad fields are 400' '
	expect_eq "$(post "$TA" "$CC" "{\"courseId\":\"$NOPE\",\"contentTitle\":\"x\"}")" 400 &&
	expect_eq "$(msg)" "Failed to add course content! Reason: Course with id - $NOPE not found!" &&
	bad=0 &&
	for b in "{\"courseId\":\"$C\",\"contentUrl\":\"/etc/passwd\"}" \
	    "{\"courseId\":\"$C\",\"contentUrl\":\"file-system-storage/../x\"}" \
	    "{\"courseId\":\"$C\",\"contentUrl\":\"file-system-storage/\"}" \
	    "{\"contentTitle\":\"x\"}" "{\"courseId\":\"zz\"}" \
	    "{\"courseId\":\"$C\",\"contentSequence\":\"x\"}" \
	    "{\"courseId\":\"$C\",\"contentType\":\"$(python3 -c "print(\"t\" * 51)")\"}"; do
		expect_eq "$(post "$TA" "$CC" "$b")" 400 &&
		msg | grep -q "^Failed to add course content! Reason: " || { echo "body: $b" >&2; bad=1; }
	done &&
	test $bad = 0 &&
	call "$TA" GET "$CC/$C" >/dev/null &&
	expect_eq "$(json "len(j[\"responseBody\"][\"courseContents\"])")" 4
'

test_expect_success 'content list: paging, bad paging, ADMIN on an unknown course' '
	expect_eq "$(call "$TA" GET "$CC/$C?pageNumber=1&limit=2")" 200 &&
	expect_eq "$(json "[c[\"contentTitle\"] for c in j[\"responseBody\"][\"courseContents\"]]")" "[\"L5\", \"L6\"]" &&
	expect_eq "$(call "$TA" GET "$CC/$C?pageNumber=-1")" 400 &&
	expect_eq "$(msg)" "Failed to fetch course contents! Reason: Page index must not be less than zero" &&
	expect_eq "$(call "$TA" GET "$CC/$C?limit=0")" 400 &&
	expect_eq "$(msg)" "Failed to fetch course contents! Reason: Page size must not be less than one" &&
	expect_eq "$(call "$TA" GET "$CC/$C?limit=1001")" 400 &&
	expect_eq "$(call "$TA" GET "$CC/not-a-uuid")" 400 &&
	expect_eq "$(msg)" "Failed to fetch course contents! Reason: Invalid UUID: not-a-uuid" &&
	expect_eq "$(call "$TA" GET "$CC/$NOPE")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"courseContents\"]")" "[]"
'

test_expect_success 'preview: public, media hidden, same order' '
	expect_eq "$(call "" GET "$CC/$SEED/preview")" 200 &&
	expect_eq "$(json "[(c[\"contentSequence\"], c[\"contentType\"], c[\"contentUrl\"]) for c in j[\"responseBody\"][\"courseContentsPreview\"]]")" \
	    "[[1, null, null], [2, null, null], [3, null, null]]" &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"courseContentsPreview\"][0].keys())")" \
	    "[\"contentId\", \"contentSequence\", \"contentTitle\", \"contentType\", \"contentUrl\", \"courseId\"]" &&
	expect_eq "$(call "" GET "$CC/$SEED/preview?limit=1&pageNumber=2")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"courseContentsPreview\"][0][\"contentTitle\"]")" "Dummy Content Title 2" &&
	expect_eq "$(call "" GET "$CC/$SEED/preview?pageNumber=x")" 400 &&
	msg | grep -q "^Failed to fetch course contents preview! Reason: "
'

test_expect_success 'content delete: 200, then 417 not found; bad id 400' '
	call "$TA" GET "$CC/$C" >/dev/null &&
	id=$(json "[c[\"contentId\"] for c in j[\"responseBody\"][\"courseContents\"] if c[\"contentTitle\"] == \"L0\"][0]") &&
	expect_eq "$(call "$TA" DELETE "$CC/$id")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully deleted course content" &&
	expect_eq "$(call "$TA" DELETE "$CC/$id")" 417 &&
	expect_eq "$(msg)" "Failed to delete course content! Reason: Course content with id - $id not found!" &&
	expect_eq "$(json "j[\"httpStatus\"]")" EXPECTATION_FAILED &&
	expect_eq "$(call "$TA" DELETE "$CC/xyz")" 400 &&
	call "$TA" GET "$CC/$C" >/dev/null &&
	expect_eq "$(json "[c[\"contentSequence\"] for c in j[\"responseBody\"][\"courseContents\"]]")" "[1, 5, 6]"
'

# --- 4.4 payments and the purchase journey ----------------------------------
test_expect_success 'journey: before paying the user sees no contents and no enrollment' '
	expect_eq "$(call "$TU" GET "$CC/$C")" 403 &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$C/$UID_")" 404 &&
	expect_eq "$(msg)" "Failed to fetch enrollment status! Reason: No enrollment info found for user id - $UID_ and course id - $C" &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$UID_")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"enrolledCourseList\"]")" "[]"
'

test_expect_success 'journey: USER submits a payment: 200, payment and enrollment IN-REVIEW' '
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$(echo "$UID_" | tr a-f A-F)\",\"trxId\":\"TRX-1\",\"paymentVendor\":\"BKash\",\"senderAccount\":\"017\",\"amount\":\"2000\",\"status\":\"APPROVED\",\"paymentId\":\"$NOPE\",\"date\":\"x\"}")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully saved payment info" &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$C/$UID_")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"status\"]")" IN-REVIEW &&
	expect_eq "$(call "$TA" GET "$PM")" 200 &&
	expect_eq "$(json "[(p[\"trxId\"], p[\"status\"], p[\"userId\"], p[\"amount\"], p[\"paymentVendor\"]) for p in j[\"responseBody\"][\"paymentInfoList\"]]")" \
	    "[[\"TRX-1\", \"IN-REVIEW\", \"$UID_\", 2000, \"BKash\"]]" &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"paymentInfoList\"][0].keys())")" \
	    "[\"amount\", \"courseId\", \"date\", \"paymentId\", \"paymentVendor\", \"senderAccount\", \"status\", \"trxId\", \"userId\"]" &&
	test "$(json "j[\"responseBody\"][\"paymentInfoList\"][0][\"paymentId\"]")" != "$NOPE" &&
	expect_eq "$(call "$TU" GET "$CC/$C")" 403
'

test_expect_success 'payment submit: refusals are 400 with the prefix, nothing stored' '
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-1\"}")" 400 &&
	expect_eq "$(msg)" "Failed to save payment info! Reason: Payment with transaction id - TRX-1 already exists!" &&
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$NOPE\",\"userId\":\"$UID_\",\"trxId\":\"TRX-X\"}")" 400 &&
	expect_eq "$(msg)" "Failed to save payment info! Reason: Course with id - $NOPE not found!" &&
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\"}")" 400 &&
	expect_eq "$(msg)" "Failed to save payment info! Reason: trxId is required" &&
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"trxId\":\"TRX-X\"}")" 400 &&
	expect_eq "$(msg)" "Failed to save payment info! Reason: userId is required" &&
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-X\",\"amount\":\"ten\"}")" 400 &&
	expect_eq "$(post "$TO" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-X\"}")" 403 &&
	expect_eq "$(post "$TA" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$(cat "$T/admin.id")\",\"trxId\":\"TRX-X\"}")" 403 &&
	call "$TA" GET "$PM" >/dev/null &&
	expect_eq "$(json "len(j[\"responseBody\"][\"paymentInfoList\"])")" 1
'

test_expect_success 'approval: invalid status 400, unknown trxId 417, missing fields 400' '
	expect_eq "$(post "$TA" "$PM/approval" "{\"trxId\":\"TRX-1\",\"status\":\"DECLINED\"}")" 400 &&
	expect_eq "$(msg)" "Failed to update payment status! Reason: Invalid status DECLINED" &&
	expect_eq "$(post "$TA" "$PM/approval" "{\"trxId\":\"NOPE\",\"status\":\"APPROVED\"}")" 417 &&
	expect_eq "$(msg)" "Failed to update payment status! Reason: Payment with transaction id - NOPE doesn'"'"'t exists!" &&
	expect_eq "$(post "$TA" "$PM/approval" "{\"status\":\"APPROVED\"}")" 400 &&
	expect_eq "$(post "$TA" "$PM/approval" "{\"trxId\":\"TRX-1\"}")" 400 &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$C/$UID_")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"status\"]")" IN-REVIEW
'

test_expect_success 'journey: ADMIN approves; enrollment from the stored payment, not the body' '
	call "$TA" GET "$PM" >/dev/null &&
	json "j[\"responseBody\"][\"paymentInfoList\"][0]" >"$T/pay.json" &&
	body=$(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); p[\"status\"]=\"APPROVED\"; p[\"userId\"]=sys.argv[2]; print(json.dumps(p))" "$T/pay.json" "$OID") &&
	expect_eq "$(post "$TA" "$PM/approval" "$body")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"message\"]")" "Successfully updated payment status" &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$C/$UID_")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"status\"]")" APPROVED &&
	expect_eq "$(call "$TO" GET "$CM/enrollment/$C/$OID")" 404 &&
	expect_eq "$(call "$TA" GET "$PM")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"paymentInfoList\"][0][\"status\"]")" APPROVED
'

test_expect_success 'journey: the approved user reads the full contents; others still 403' '
	expect_eq "$(call "$TU" GET "$CC/$C")" 200 &&
	expect_eq "$(json "[c[\"contentUrl\"] for c in j[\"responseBody\"][\"courseContents\"]]")" \
	    "[\"file-system-storage/a1.mp4\", \"file-system-storage/a5.mp4\", \"file-system-storage/a6.mp4\"]" &&
	expect_eq "$(call "$TO" GET "$CC/$C")" 403 &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$UID_")" 200 &&
	expect_eq "$(json "[(c[\"courseId\"], c[\"enrollmentStatus\"]) for c in j[\"responseBody\"][\"enrolledCourseList\"]]")" \
	    "[[\"$C\", \"APPROVED\"]]" &&
	expect_eq "$(call "$TA" GET "$CM/enrollment/$UID_")" 200
'

test_expect_success 'an approved learner cannot pay again; a denied one can' '
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-2\"}")" 400 &&
	expect_eq "$(msg)" "Failed to save payment info! Reason: User is already enrolled in this course!" &&
	expect_eq "$(post "$TA" "$PM/approval" "{\"trxId\":\"TRX-1\",\"status\":\"DENIED\"}")" 200 &&
	expect_eq "$(call "$TU" GET "$CC/$C")" 403 &&
	expect_eq "$(post "$TU" "$PM" "{\"courseId\":\"$C\",\"userId\":\"$UID_\",\"trxId\":\"TRX-2\"}")" 200 &&
	expect_eq "$(call "$TU" GET "$CM/enrollment/$C/$UID_")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"status\"]")" IN-REVIEW
'

test_expect_success 'payment list: newest first, paging, bad paging' '
	expect_eq "$(call "$TA" GET "$PM")" 200 &&
	expect_eq "$(json "[(p[\"trxId\"], p[\"status\"]) for p in j[\"responseBody\"][\"paymentInfoList\"]]")" \
	    "[[\"TRX-2\", \"IN-REVIEW\"], [\"TRX-1\", \"DENIED\"]]" &&
	expect_eq "$(call "$TA" GET "$PM?pageNumber=1&limit=1")" 200 &&
	expect_eq "$(json "[p[\"trxId\"] for p in j[\"responseBody\"][\"paymentInfoList\"]]")" "[\"TRX-1\"]" &&
	expect_eq "$(call "$TA" GET "$PM?limit=0")" 400 &&
	expect_eq "$(msg)" "Failed to fetch payment info! Reason: Page size must not be less than one"
'

test_expect_success 'enrollment paths: malformed ids are 400 with the prefix' '
	expect_eq "$(call "$TA" GET "$CM/enrollment/nope")" 400 &&
	expect_eq "$(msg)" "Failed to fetch enrolled course list with status! Reason: Invalid UUID: nope" &&
	expect_eq "$(call "$TA" GET "$CM/enrollment/nope/$UID_")" 400 &&
	expect_eq "$(msg)" "Failed to fetch enrollment status! Reason: Invalid UUID: nope"
'

# --- concurrency -----------------------------------------------------------
test_expect_success 'concurrent decisions on one payment leave both rows agreeing' '
	expect_eq "$(post "$TT" "$PM" "{\"courseId\":\"$SEED2\",\"userId\":\"$TID\",\"trxId\":\"TRX-RACE\"}")" 200 &&
	bad=0 &&
	for round in 1 2 3; do
		i=0 && pids= &&
		while [ $i -lt 10 ]; do
			if [ $((i % 2)) = 0 ]; then s=APPROVED; else s=DENIED; fi
			curl -s -o "$T/race.$i" -w "%{http_code}\n" --max-time 20 \
			    -H "Authorization: Bearer $TA" -H "Content-Type: application/json" \
			    --data-binary "{\"trxId\":\"TRX-RACE\",\"status\":\"$s\",\"courseId\":\"$NOPE\",\"userId\":\"$NOPE\"}" \
			    "$PM/approval" >"$T/race.code.$i" &
			pids="$pids $!"
			i=$((i + 1))
		done &&
		wait $pids &&
		expect_eq "$(cat "$T"/race.code.* | sort -u)" 200 &&
		call "$TA" GET "$PM" >/dev/null &&
		ps=$(json "[p[\"status\"] for p in j[\"responseBody\"][\"paymentInfoList\"] if p[\"trxId\"] == \"TRX-RACE\"][0]") &&
		expect_eq "$(call "$TT" GET "$CM/enrollment/$SEED2/$TID")" 200 &&
		expect_eq "$(json "j[\"responseBody\"][\"status\"]")" "$ps" || bad=1
	done &&
	test $bad = 0
'

test_expect_success 'the service logged no token and no server error' '
	! grep -q "$TA" "$T/log/course.log" &&
	! grep -q "$TU" "$T/log/course.log" &&
	! grep -E "error: " "$T/log/course.log" &&
	loggrep course.log "payment [0-9a-f-]{36} submitted"
'

test_done
