#!/bin/sh
# elp-gateway's FastCGI side: kept-alive backend connections reused, a
# pooled connection the app closed is retried transparently, requests over
# an instance's maxconn wait in order instead of failing, and a dead
# service gives a quick 503 envelope.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start the stack' '
	db_up && course_up course 2 && GW_WORKERS=1 gateway_up
'
API=http://127.0.0.1:$API_PORT/course-management-api

test_expect_success 'many sequential requests reuse at most maxconn backend connections' '
	i=0; while [ $i -lt 30 ]; do
		[ "$(http GET "$API/550e8400-e29b-41d4-a716-446655440000")" = 200 ] || exit 1
		i=$((i + 1)); done &&
	n=$(ss -x state connected 2>/dev/null | grep -c "$T/run/course.sock") &&
	[ "$n" -le 4 ]
'

test_expect_success 'concurrent requests beyond maxconn queue and all succeed' '
	pids= &&
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		curl -s -o /dev/null -w "%{http_code}\n" "$API?limit=3" >"$T/code.$i" &
		pids="$pids $!"
	done &&
	for p in $pids; do wait $p; done &&
	cat "$T"/code.* >"$T/codes" &&
	expect_eq "$(sort "$T/codes" | uniq -c | tr -s " ")" " 12 200"
'

test_expect_success 'pool workers replaced (SIGHUP): pooled connections die, requests still succeed' '
	kill -HUP $pid_course && sleep 1 &&
	expect_eq "$(http GET "$API/550e8400-e29b-41d4-a716-446655440000")" 200 &&
	expect_eq "$(http GET "$API")" 200
'

test_expect_success 'service down: a quick 503 envelope naming the service' '
	stop_pid $pid_course &&
	expect_eq "$(http GET "$API")" 503 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Service course is unavailable" &&
	expect_eq "$(json "j[\"httpStatus\"]")" SERVICE_UNAVAILABLE
'

test_expect_success 'service back: requests succeed again without touching the gateway' '
	course_up course 2 &&
	expect_eq "$(http GET "$API")" 200
'

test_done
