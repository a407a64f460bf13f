#!/bin/sh
# The course catalogue through the gateway: paging, ordering, one course,
# malformed and unknown ids, bad paging parameters, unknown routes, body
# limits; real MariaDB, real elp-course pool, real elp-gateway.
. "$(dirname "$0")/lib.sh"

API=
test_expect_success 'start MariaDB, elp-course and elp-gateway' '
	db_up &&
	course_up &&
	gateway_up
'
API=http://127.0.0.1:$API_PORT/course-management-api

test_expect_success 'catalogue: default page lists the demo courses oldest first' '
	expect_eq "$(http GET "$API")" 200 &&
	expect_eq "$(json "j[\"httpStatus\"]")" OK &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" 3 &&
	expect_eq "$(json "[c[\"courseName\"] for c in j[\"responseBody\"][\"courseList\"]]")" \
	    "[\"System Design Preparation\", \"Java & Spring Boot\", \"Introduction to Programming\"]" &&
	expect_eq "$(json "\"errorBody\" in j")" false
'

test_expect_success 'catalogue: Course objects carry every key of the contract' '
	http GET "$API?pageNumber=0&limit=1" >/dev/null &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"courseList\"][0].keys())")" \
	    "[\"courseFee\", \"courseId\", \"courseName\", \"description\", \"discount\", \"enrollmentStatus\", \"imageUrl\", \"isEnrollmentEnabled\", \"publishedAt\"]" &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"][0][\"publishedAt\"]")" \
	    "2024-04-09T18:00:00.000+00:00" &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"][0][\"enrollmentStatus\"]")" null &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"][0][\"courseFee\"]")" 10000 &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"][0][\"discount\"]")" 50 &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"][0][\"isEnrollmentEnabled\"]")" true &&
	grep -qi "^content-type: application/json" "$T/headers"
'

test_expect_success 'catalogue: paging splits the ordered list, totalCount counts all' '
	http GET "$API?pageNumber=1&limit=2" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" 3 &&
	expect_eq "$(json "[c[\"courseId\"] for c in j[\"responseBody\"][\"courseList\"]]")" \
	    "[\"550e8400-e29b-41d4-a716-446655440000\"]" &&
	http GET "$API?pageNumber=5&limit=2" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"courseList\"]")" "[]" &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" 3
'

test_expect_success 'catalogue: bad paging parameters are 400 envelopes' '
	expect_eq "$(http GET "$API?pageNumber=-1")" 400 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" \
	    "Failed to fetch course list! Reason: Page index must not be less than zero" &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 400 &&
	expect_eq "$(json "j[\"httpStatus\"]")" BAD_REQUEST &&
	expect_eq "$(http GET "$API?limit=0")" 400 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" \
	    "Failed to fetch course list! Reason: Page size must not be less than one" &&
	expect_eq "$(http GET "$API?pageNumber=abc")" 400 &&
	expect_eq "$(http GET "$API?limit=1001")" 400 &&
	expect_eq "$(http GET "$API?limit=99999999999999999999")" 400
'

test_expect_success 'one course by id, any case' '
	expect_eq "$(http GET "$API/550e8400-e29b-41d4-a716-446655440001")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"courseName\"]")" "Java & Spring Boot" &&
	expect_eq "$(http GET "$API/550E8400-E29B-41D4-A716-446655440001")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"course\"][\"courseId\"]")" \
	    550e8400-e29b-41d4-a716-446655440001
'

test_expect_success 'malformed course id is a 400 naming the value' '
	expect_eq "$(http GET "$API/not-a-uuid")" 400 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Invalid UUID: not-a-uuid"
'

test_expect_success 'unknown course id is the contract 404' '
	expect_eq "$(http GET "$API/00000000-0000-4000-8000-000000000000")" 404 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "No course found for this course id!" &&
	expect_eq "$(json "j[\"httpStatus\"]")" NOT_FOUND
'

test_expect_success 'unknown route is a 404 envelope from the gateway' '
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/no-such-api/x")" 404 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "No endpoint GET /no-such-api/x" &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/course-management-apix")" 404
'

test_expect_success 'unknown path under a known route is a 404 envelope from the service' '
	expect_eq "$(http GET "$API/a/b/c")" 404 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 404
'

test_expect_success 'known path, wrong method is 405 with Allow' '
	expect_eq "$(http DELETE "$API/550e8400-e29b-41d4-a716-446655440001")" 405 &&
	grep -qi "^allow: .*GET" "$T/headers"
'

test_expect_success 'request body over the route limit is refused with 413 before it is read' '
	head -c 70000 /dev/zero | tr "\0" a >"$T/big" &&
	expect_eq "$(http POST "$API" -H "Content-Type: application/json" --data-binary @"$T/big")" 413 &&
	expect_eq "$(json "j[\"httpStatus\"]")" PAYLOAD_TOO_LARGE
'

test_expect_success 'keep-alive: several requests on one connection' '
	curl -s -o /dev/null -o /dev/null -w "%{num_connects}\n" \
	    "$API" "$API/550e8400-e29b-41d4-a716-446655440000" >"$T/nc" &&
	expect_eq "$(tr -d "\n" <"$T/nc")" 10
'

test_expect_success 'pipelined requests are answered in order' '
	printf "GET /course-management-api/550e8400-e29b-41d4-a716-446655440000 HTTP/1.1\r\nHost: x\r\n\r\nGET /course-management-api/550e8400-e29b-41d4-a716-446655440002 HTTP/1.1\r\nHost: x\r\n\r\nGET /course-management-api/bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	    raw "$API_PORT" >"$T/pipe" &&
	grep -o "Introduction to Programming\|System Design Preparation\|Invalid UUID: bad" "$T/pipe" >"$T/order" &&
	expect_eq "$(tr "\n" "|" <"$T/order")" "Introduction to Programming|System Design Preparation|Invalid UUID: bad|" &&
	expect_eq "$(grep -o "HTTP/1.1 [0-9][0-9][0-9]" "$T/pipe" | wc -l)" 3
'

test_expect_success 'X-Request-Id is kept when valid, generated otherwise, and logged' '
	http GET "$API" -H "X-Request-Id: test-rid-42" >/dev/null &&
	grep -qi "^x-request-id: test-rid-42" "$T/headers" &&
	http GET "$API" -H "X-Request-Id: bad id!" >/dev/null &&
	! grep -qi "^x-request-id: bad" "$T/headers" &&
	grep -qi "^x-request-id: [0-9a-f]\{24\}" "$T/headers" &&
	sleep 0.2 && loggrep access.log "rid=test-rid-42 route=/course-management-api ins=course@unix:"
'

test_expect_success 'service health through the admin listener' '
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/health/course")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"database\"]")" UP
'

test_done
