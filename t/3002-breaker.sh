#!/bin/sh
# Circuit breaker: an instance whose requests fail (500s while its health
# check stays green) trips its breaker and traffic goes to the healthy
# one (the 5 s cooldown outlasts the steps' requests on a loaded
# machine); with every breaker open the gateway answers a fast 503 envelope
# with Retry-After; after the cooldown a trial request half-opens the
# breaker and a success closes it again.
. "$(dirname "$0")/lib.sh"

A=unix:$T/run/a.sock
B=unix:$T/run/b.sock
E=http://127.0.0.1:$API_PORT/e

metric() {
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
	    awk -v k="$1{$2}" '$1 == k { print $2 }'
}

state() {
	metric elp_breaker_state "service=\"echo\",instance=\"$1\""
}

# codes N: N sequential requests to /e/small; their statuses in $T/codes.
codes() {
	: >"$T/codes"
	i=0
	while [ $i -lt "$1" ]; do
		curl -s -o /dev/null -w '%{http_code}\n' "$E/small" >>"$T/codes"
		i=$((i + 1))
	done
}

# both_closed: one request answers 200 and both breakers are closed.
both_closed() {
	ok_now && [ "$(state "$A")" = 0 ] && [ "$(state "$B")" = 0 ]
}

# ok_now: one request answers 200.
ok_now() {
	[ "$(http GET "$E/small")" = 200 ]
}

test_expect_success 'start a good and a failing echo instance and the gateway' '
	spawn a "$HELPERS/fcgi-echo" -l "$A" -w 2 -F "$T/fail-a" &&
	spawn b "$HELPERS/fcgi-echo" -l "$B" -w 2 -F "$T/fail-b" &&
	wait_for test -S "$T/run/a.sock" && wait_for test -S "$T/run/b.sock" &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	INSTANCES="    <health enabled=\"no\"/>
    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\">
    <health interval=\"500ms\" timeout=\"400ms\"/>
    <breaker failures=\"3\" error-rate=\"0\" cooldown=\"5s\" trials=\"1\"/>
    <instance address=\"$A\" maxconn=\"2\"/>
    <instance address=\"$B\" maxconn=\"2\"/>
  </service>" \
	GW_WORKERS=2 gateway_up &&
	ok_now
'

test_expect_success 'b answers 500s: its breaker opens after 3 failures' '
	touch "$T/fail-b" &&
	codes 12 &&
	[ "$(grep -c "^500$" "$T/codes")" -eq 3 ] &&
	expect_eq "$(state "$B")" 1 && expect_eq "$(state "$A")" 0 &&
	loggrep gateway.log "instance echo@$B: breaker closed -> open"
'

test_expect_success 'traffic goes to a only while b is open' '
	codes 10 &&
	expect_eq "$(sort "$T/codes" | uniq -c | tr -s " ")" " 10 200"
'

test_expect_success 'both failing: a opens too, then a fast 503 with Retry-After' '
	touch "$T/fail-a" &&
	codes 3 && expect_eq "$(state "$A")" 1 &&
	start=$(date +%s%N) &&
	expect_eq "$(http GET "$E/small")" 503 &&
	[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 500 ] &&
	expect_eq "$(json "j[\"httpStatus\"]")" SERVICE_UNAVAILABLE &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Service echo is unavailable" &&
	ra=$(sed -n "s/^Retry-After: \([0-9]*\).*/\1/ip" "$T/headers") &&
	[ "$ra" -ge 1 ] && [ "$ra" -le 5 ] &&
	loggrep gateway.log "no healthy instance for echo" &&
	[ "$(metric elp_rejected_total "reason=\"breaker_open\"")" -ge 1 ]
'

test_expect_success 'recovered: a trial half-opens each breaker, success closes it' '
	rm -f "$T/fail-a" "$T/fail-b" &&
	wait_for both_closed &&
	codes 10 &&
	expect_eq "$(sort "$T/codes" | uniq -c | tr -s " ")" " 10 200" &&
	loggrep gateway.log "instance echo@$B: breaker open -> half-open" &&
	loggrep gateway.log "instance echo@$B: breaker half-open -> closed" &&
	loggrep gateway.log "service echo has a healthy instance again"
'

test_expect_success 'the health checks never took them down (breaker only)' '
	! grep -q "instance echo@.* is down" "$T/log/gateway.log"
'

test_done
