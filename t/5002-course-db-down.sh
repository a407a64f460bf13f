#!/bin/sh
# With the database stopped the catalogue answers a clear 503 (never a
# hang, never a crash); once the database is back it recovers without a
# restart of the service or the gateway.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start the stack' '
	db_up && course_up && gateway_up
'
API=http://127.0.0.1:$API_PORT/course-management-api

test_expect_success 'catalogue answers while the database is up' '
	expect_eq "$(http GET "$API")" 200
'

test_expect_success 'database stopped: catalogue and one course are 503 envelopes' '
	db_stop &&
	expect_eq "$(http GET "$API")" 503 &&
	expect_eq "$(json "j[\"httpStatus\"]")" SERVICE_UNAVAILABLE &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 503 &&
	expect_eq "$(http GET "$API/550e8400-e29b-41d4-a716-446655440001")" 503 &&
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/health/course")" 503
'

test_expect_success 'the service stays up and logs the outage' '
	kill -0 $pid_course && kill -0 $pid_gateway &&
	loggrep course.log "database"
'

test_expect_success 'database back: the same processes answer 200 again' '
	db_start &&
	i=0; until [ "$(http GET "$API")" = 200 ]; do
		i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.2; done &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" 3 &&
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/health/course")" 200
'

test_done
