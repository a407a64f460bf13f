#!/bin/sh
# Rate limits per client address (<rate-limit>, <limit>): a burst, then 429
# with the JSON error envelope and Retry-After; tokens come back at the
# configured rate; each source address (and each client named by a trusted
# proxy) has its own bucket; one bucket per address across both workers,
# exact even with more connections than workers; other paths and methods,
# and allowed addresses, are not limited; the access log and /metrics show
# it; -t refuses bad zones and limits with file:line; a reload keeps the
# buckets of an unchanged zone and serves on.
. "$(dirname "$0")/lib.sh"

ZONES="  <real-ip from=\"127.0.0.6\"/>
  <rate-limit name=\"slow\" rate=\"1r/m\" burst=\"5\" size=\"1000\"
              allow=\"127.0.0.4 127.0.0.5/32\"/>
  <rate-limit name=\"fast\" rate=\"5r/s\" burst=\"10\"/>"
LIMITS="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\">
    <limit zone=\"slow\" methods=\"POST\" path=\"/e/echo\"/>
    <limit zone=\"fast\" methods=\"GET HEAD\" prefix=\"/e/param\"/>
  </route>"

# burst SOURCE N CONNS [METHOD PATH]: N requests, each on a new connection.
burst() {
	python3 "$ROOT/t/helper/burst.py" "$API_PORT" "${4:-POST}" \
	    "${5:-/e/echo}" --source "$1" --count "$2" --conns "$3" \
	    --body x --first-429 "$T/r429"
}

# count STATUS: how many answers of STATUS the last burst printed.
count() {
	sed -n "s/^$1=//p" "$T/out" | grep . || echo 0
}

# metric NAME LABELS: the value of one series on /metrics.
metric() {
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
	    grep -F "$1{$2}" | sed 's/.* //'
}

test_expect_success 'start the echo app and a 2-worker gateway with two zones' '
	echo_up echo 2 &&
	ROUTES="$ZONES
$LIMITS" \
	SERVICES_EXTRA="  <service name=\"echo\"><health enabled=\"no\"/><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_WORKERS=2 gateway_up
'

test_expect_success 'a burst over 10 connections: exactly 5 pass, then 429' '
	burst 127.0.0.2 20 10 >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 5 && expect_eq "$(count 429)" 15 &&
	expect_eq "$(count errors)" 0
'

test_expect_success 'the 429 is the JSON error envelope with Retry-After' '
	sed -n "1p" "$T/r429" | grep -q "^HTTP/1.1 429 Too Many Requests" &&
	ra=$(sed -n "s/^Retry-After: \([0-9]*\).*/\1/p" "$T/r429" | tr -d "\r") &&
	echo "Retry-After: $ra" && [ "$ra" -ge 50 ] && [ "$ra" -le 60 ] &&
	grep -q "^Content-Type: application/json" "$T/r429" &&
	sed "1,/^\r$/d" "$T/r429" >"$T/body" &&
	expect_eq "$(json "j[\"httpStatus\"]")" TOO_MANY_REQUESTS &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 429
'

test_expect_success 'another address has its own bucket; the first stays limited' '
	burst 127.0.0.3 20 10 >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 5 && expect_eq "$(count 429)" 15 &&
	burst 127.0.0.2 1 1 >"$T/out" && expect_eq "$(count 429)" 1
'

test_expect_success 'other methods and paths of the route are not limited' '
	burst 127.0.0.2 6 2 GET /e/small >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 6 &&
	burst 127.0.0.2 6 2 POST /e/count >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 6 &&
	burst 127.0.0.2 3 1 POST /e/echoes >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 429)" 0
'

test_expect_success 'allowed addresses are exempt' '
	burst 127.0.0.4 12 4 >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 12 &&
	burst 127.0.0.5 8 4 >"$T/out" && expect_eq "$(count 200)" 8
'

test_expect_success 'behind a trusted proxy, each forwarded client has a bucket' '
	python3 "$ROOT/t/helper/burst.py" "$API_PORT" POST /e/echo \
	    --source 127.0.0.6 --count 8 --conns 4 --body x \
	    --header "X-Forwarded-For: 192.0.2.1" >"$T/out" &&
	cat "$T/out" && expect_eq "$(count 200)" 5 &&
	python3 "$ROOT/t/helper/burst.py" "$API_PORT" POST /e/echo \
	    --source 127.0.0.6 --count 2 --conns 1 --body x \
	    --header "X-Forwarded-For: 192.0.2.2" >"$T/out" &&
	expect_eq "$(count 200)" 2
'

# param SOURCE ARGS...: GET /e/param (the fast zone) from SOURCE.
param() {
	src=$1
	shift
	python3 "$ROOT/t/helper/burst.py" "$API_PORT" GET /e/param?name=x \
	    --source "$src" "$@"
}

test_expect_success 'tokens come back at the rate: 5/s, measured over 2 s' '
	param 127.0.0.7 --count 14 >"$T/out" && cat "$T/out" &&
	[ "$(count 429)" -ge 1 ] &&
	param 127.0.0.7 --for 2 >"$T/out" && cat "$T/out" &&
	ok=$(count 200) &&
	el=$(sed -n "s/^elapsed=//p" "$T/out") &&
	python3 -c "import sys
ok, el = int(sys.argv[1]), float(sys.argv[2])
sys.exit(0 if 5 * el - 1.5 <= ok <= 5 * el + 3 else 1)" "$ok" "$el" &&
	[ "$(count 429)" -gt 0 ]
'

test_expect_success 'a refused request waits Retry-After, then passes' '
	param 127.0.0.8 --count 12 --first-429 "$T/r429" >"$T/out" &&
	cat "$T/out" && [ "$(count 429)" -ge 1 ] &&
	grep -q "^Retry-After: 1" "$T/r429" &&
	sleep 0.25 &&
	param 127.0.0.8 --count 1 >"$T/out" && expect_eq "$(count 200)" 1
'

test_expect_success 'the access log names the zone of each 429' '
	loggrep access.log "^127\.0\.0\.2 .*\"POST /e/echo HTTP/1.1\" 429 .* limit=slow$" &&
	loggrep access.log "^192\.0\.2\.1 .*\"POST /e/echo HTTP/1.1\" 429 .* limit=slow$" &&
	loggrep access.log "^127\.0\.0\.7 .*\"GET /e/param\?name=x HTTP/1.1\" 429 .* limit=fast$" &&
	! grep " 200 .*limit=" "$T/log/access.log"
'

test_expect_success '/metrics counts per zone: allowed, limited, table fill' '
	expect_eq "$(metric elp_rate_limit_requests_total "zone=\"slow\",outcome=\"allowed\"")" 17 &&
	expect_eq "$(metric elp_rate_limit_requests_total "zone=\"slow\",outcome=\"limited\"")" 34 &&
	expect_eq "$(metric elp_rate_limit_size "zone=\"slow\"")" 1000 &&
	expect_eq "$(metric elp_rate_limit_entries "zone=\"slow\"")" 4 &&
	expect_eq "$(metric elp_rate_limit_evictions_total "zone=\"slow\"")" 0 &&
	[ "$(metric elp_rate_limit_requests_total "zone=\"fast\",outcome=\"limited\"")" -gt 0 ]
'

# reloaded: the gateway logged more reloads than $n.
reloaded() {
	[ "$(grep -c "reload done" "$T/log/gateway.log")" -gt "$n" ]
}

test_expect_success 'a reload keeps the buckets of an unchanged zone and serves on' '
	sed -i "s/rate=\"5r\/s\" burst=\"10\"/rate=\"1r\/m\" burst=\"2\"/" \
	    "$T/conf/gateway.xml" &&
	n=$(grep -c "reload done" "$T/log/gateway.log" || true) &&
	kill -HUP "$(cat "$T/run/gateway.pid")" &&
	wait_for reloaded &&
	expect_eq "$(grep -c "rate-limit fast: new table" "$T/log/gateway.log")" 2 &&
	expect_eq "$(grep -c "rate-limit slow: new table" "$T/log/gateway.log")" 1 &&
	burst 127.0.0.2 1 1 >"$T/out" && expect_eq "$(count 429)" 1 &&
	burst 127.0.0.9 7 3 >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 5 && expect_eq "$(count 429)" 2 &&
	param 127.0.0.10 --count 3 >"$T/out" && cat "$T/out" &&
	expect_eq "$(count 200)" 2 &&
	expect_eq "$(metric elp_rate_limit_requests_total "zone=\"slow\",outcome=\"allowed\"")" 22
'

# bad NAME ZONES ROUTE: a config with these zones and route; -t must fail.
bad() {
	cat >"$T/conf/$1" <<XML
<gateway workers="1" registry="services.xml">
  <listen name="api" address="127.0.0.1:$API_PORT"/>
$2
$3
</gateway>
XML
	! "$BIN/elp-gateway" -t -c "$T/conf/$1" 2>"$T/err" || return 1
	cat "$T/err"
}

test_expect_success '-t refuses bad zones and limits, each with file:line' '
	bad b1.xml "  <rate-limit name=\"a\" rate=\"2000000r/s\"/>
  <rate-limit name=\"a\" rate=\"1r/m\" allow=\"10.0.0.1/8\"/>" \
	    "  <route listen=\"api\" prefix=\"/e\" service=\"echo\">
    <limit zone=\"nope\"/>
    <limit zone=\"a\" methods=\"POST FETCH\"/>
    <limit zone=\"a\" path=\"/other/x\"/>
    <limit zone=\"a\" path=\"/e/x\" prefix=\"/e\"/>
    <limit zone=\"a\" prefix=\"/e/x/\"/>
  </route>" &&
	grep -q "b1.xml:3: .*rate \"2000000r/s\" is not" "$T/err" &&
	grep -q "b1.xml:4: .*\"a\" defined twice" "$T/err" &&
	grep -q "b1.xml:4: .*allow: \"10.0.0.1/8\"" "$T/err" &&
	grep -q "b1.xml:6: .*no <rate-limit> zone named \"nope\"" "$T/err" &&
	grep -q "b1.xml:7: .*methods \"POST FETCH\"" "$T/err" &&
	grep -q "b1.xml:8: .*\"/other/x\" is not under" "$T/err" &&
	grep -q "b1.xml:9: .*path and prefix together" "$T/err" &&
	grep -q "b1.xml:10: .*must not end in /" "$T/err" &&
	bad b2.xml "  <rate-limit name=\"z\" rate=\"10r/h\" size=\"4\"/>" "" &&
	grep -q "b2.xml:3: .*rate" "$T/err" &&
	grep -q "b2.xml:3: .*size" "$T/err"
'

test_done
