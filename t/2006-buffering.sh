#!/bin/sh
# Request and response buffering: slow or stalled request bodies and
# clients that stop reading never hold a backend worker, while ordinary
# requests to the same service keep being served at once; chunked bodies
# reach the app with an exact CONTENT_LENGTH; large bodies go to unlinked
# files; client aborts and slow readers are logged and counted as theirs,
# never as the backend's; the wait queue has a length limit.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/tmp"
test_expect_success 'start fcgi-echo (2 workers, maxconn 2) and a one-worker gateway' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\" max-body=\"4m\"/>
  <route listen=\"api\" prefix=\"/t\" service=\"echo\" rewrite=\"/\" min-body-rate=\"1k\"/>
  <route listen=\"api\" prefix=\"/s\" service=\"echo\" rewrite=\"/\" request-buffering=\"off\" response-buffering=\"off\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_TIMEOUTS="header=\"3s\" body-idle=\"3s\" keepalive=\"30s\" send=\"3s\" queue=\"8s\" response=\"10s\"" \
	GW_LIMITS="max-body=\"64k\" queue-length=\"3\"" GW_WORKERS=1 \
	GW_BUFFERING="<buffering request-memory=\"64k\" response-memory=\"64k\" temp-dir=\"$T/tmp\"/>" \
	gateway_up &&
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml" &&
	grep -q "temp-dir=\"$T/tmp\"" "$T/conf/gateway.xml"
'
P=127.0.0.1:$API_PORT
E=http://$P/e
M=http://127.0.0.1:$ADMIN_PORT/metrics

# ordinary N: N POSTs and N GETs to the echo service one after the other;
# every one must be 200 within a second.
ordinary() {
	i=0
	while [ $i -lt "$1" ]; do
		r=$(curl -s -o /dev/null -w "%{http_code} %{time_total}" -d "hello=$i" "$E/echo") &&
		case $r in "200 0."*) ;; *) echo "POST slow or failed: $r"; return 1 ;; esac
		r=$(curl -s -o /dev/null -w "%{http_code} %{time_total}" "$E/small") &&
		case $r in "200 0."*) ;; *) echo "GET slow or failed: $r"; return 1 ;; esac
		i=$((i + 1))
	done
}

metric() {	# metric NAME-AND-LABELS: its value in /metrics (0 if absent)
	v=$(curl -s "$M" | awk -v k="$1" "\$1 == k { print \$2 }")
	echo "${v:-0}"
}

test_expect_success '24 stalled bodies hold no worker: ordinary requests all served at once' '
	python3 "$ROOT/t/helper/hostile.py" stall $API_PORT 24 /e/count 8 >"$T/stall" &
	hp=$! &&
	sleep 0.5 &&
	ordinary 15 &&
	wait $hp && cat "$T/stall" &&
	grep -q "^closed=24$" "$T/stall" &&
	grep -q "^status=408 24$" "$T/stall" &&
	awk -F= "/max_life/ { exit !(\$2 >= 2.5 && \$2 < 5) }" "$T/stall" &&
	loggrep access.log "\"POST /e/count HTTP/1.1\" 408 [1-9]"
'

test_expect_success '24 trickled bodies below min-body-rate are cut off, others served' '
	python3 "$ROOT/t/helper/hostile.py" trickle $API_PORT 24 /t/count 12 0.5 >"$T/trickle" &
	hp=$! &&
	sleep 0.5 &&
	ordinary 15 &&
	wait $hp && cat "$T/trickle" &&
	grep -q "^closed=24$" "$T/trickle" &&
	grep -q "^status=408 24$" "$T/trickle" &&
	awk -F= "/max_life/ { exit !(\$2 >= 4.5 && \$2 < 8) }" "$T/trickle" &&
	loggrep access.log "\"POST /t/count HTTP/1.1\" 408"
'

test_expect_success 'a chunked body reaches the app with its exact CONTENT_LENGTH' '
	head -c 100000 /dev/urandom >"$T/b100k" &&
	sum=$(sha256sum <"$T/b100k" | cut -d" " -f1) &&
	expect_eq "$(http POST "$E/count" -H "Transfer-Encoding: chunked" --data-binary @"$T/b100k")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"contentLength\"]")" 100000 &&
	expect_eq "$(json "j[\"responseBody\"][\"bytes\"]")" 100000 &&
	expect_eq "$(json "j[\"responseBody\"][\"sha256\"]")" "$sum" &&
	expect_eq "$(http POST "$E/count" --data-binary @"$T/b100k")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"contentLength\"]")" 100000 &&
	expect_eq "$(http POST "$E/count" -H "Transfer-Encoding: chunked" --data-binary "")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"contentLength\"]")" 0
'

test_expect_success 'bodies beyond request-memory go to a file, in memory below it' '
	f0=$(metric "elp_buffered_bodies_total{direction=\"request\",where=\"file\"}") &&
	m0=$(metric "elp_buffered_bodies_total{direction=\"request\",where=\"memory\"}") &&
	head -c 3000000 /dev/urandom >"$T/b3m" &&
	sum=$(sha256sum <"$T/b3m" | cut -d" " -f1) &&
	expect_eq "$(http POST "$E/count" --data-binary @"$T/b3m")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"sha256\"]")" "$sum" &&
	expect_eq "$(http POST "$E/count" -d small=1)" 200 &&
	expect_eq "$(metric "elp_buffered_bodies_total{direction=\"request\",where=\"file\"}")" $((f0 + 1)) &&
	expect_eq "$(metric "elp_buffered_bodies_total{direction=\"request\",where=\"memory\"}")" $((m0 + 1)) &&
	expect_eq "$(ls "$T/tmp" | wc -l)" 0
'

test_expect_success 'a body over max-body is refused with 413 before it is read, chunked too' '
	expect_eq "$(http POST "$E/count" --data-binary @"$T/b3m" -H "Content-Length: 5000000")" 413 &&
	head -c 5000000 /dev/zero >"$T/b5m" &&
	expect_eq "$(http POST "$E/count" -H "Transfer-Encoding: chunked" --data-binary @"$T/b5m")" 413 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 413
'

test_expect_success 'clients that stop reading large answers: backend freed, breaker closed, no 504' '
	python3 "$ROOT/t/helper/hostile.py" noread $API_PORT 4 "/e/bytes?n=30000000" 5 >"$T/noread" &
	hp=$! &&
	sleep 0.5 &&
	ordinary 10 &&
	wait $hp && cat "$T/noread" &&
	grep -q "^closed=4$" "$T/noread" &&
	! grep -q "\" 504 " "$T/log/access.log" &&
	! grep -q "\" 502 " "$T/log/access.log" &&
	loggrep access.log "\"GET /e/bytes\\?n=30000000 HTTP/1.1\" 200 [0-9]+ .* end=client-slow" &&
	expect_eq "$(metric "elp_breaker_state{service=\"echo\",instance=\"unix:$T/run/echo.sock\"}")" 0 &&
	expect_eq "$(metric "elp_instance_failures_total{service=\"echo\",instance=\"unix:$T/run/echo.sock\"}")" 0 &&
	[ "$(metric "elp_buffered_bodies_total{direction=\"response\",where=\"file\"}")" -ge 4 ] &&
	expect_eq "$(ls "$T/tmp" | wc -l)" 0
'

test_expect_success 'a buffered large answer arrives whole and byte-exact' '
	curl -s "$E/bytes?n=20000000" | head -c 20000000 | tr -d x | wc -c >"$T/nx" &&
	expect_eq "$(cat "$T/nx" | tr -d " ")" 0 &&
	expect_eq "$(curl -s "$E/bytes?n=20000000" | wc -c | tr -d " ")" 20000000 &&
	expect_eq "$(curl -s --limit-rate 4m "$E/bytes?n=8000000" | wc -c | tr -d " ")" 8000000
'

test_expect_success 'a client gone before the answer is logged 499 and counted' '
	a0=$(metric "elp_client_aborts_total") &&
	python3 "$ROOT/t/helper/hostile.py" abort $API_PORT 1 "/e/sleep?ms=1500" 5 0.3 &&
	sleep 1.8 &&
	loggrep access.log "\"GET /e/sleep\\?ms=1500 HTTP/1.1\" 499 0 .* end=client-abort" &&
	expect_eq "$(metric "elp_client_aborts_total")" $((a0 + 1))
'

test_expect_success 'answers the gateway makes itself are logged with their size' '
	expect_eq "$(http GET "http://$P/nowhere" -H "X-Request-Id: gw-404")" 404 &&
	n=$(wc -c <"$T/body") &&
	sleep 0.2 &&
	loggrep access.log "\"GET /nowhere HTTP/1.1\" 404 $n .*rid=gw-404 .* end=ok"
'

test_expect_success 'the wait queue holds queue-length requests; beyond, 503 at once with Retry-After' '
	qp="" &&
	for i in 1 2 3 4 5 6 7 8; do
		curl -s -o /dev/null -D "$T/q$i.h" -w "%{http_code} %{time_total}\n" "$E/sleep?ms=1500" >"$T/q$i" &
		qp="$qp $!"
	done &&
	for p in $qp; do wait $p; done &&
	cat "$T"/q[0-9] &&
	expect_eq "$(cat "$T"/q[0-9] | grep -c "^200 ")" 5 &&
	expect_eq "$(cat "$T"/q[0-9] | grep -c "^503 0\.")" 3 &&
	grep -l "^HTTP/1.1 503" "$T"/q*.h | xargs grep -qi "^Retry-After: 1" &&
	[ "$(metric "elp_rejected_total{reason=\"queue_full\"}")" -ge 3 ] &&
	expect_eq "$(metric "elp_queue_length{service=\"echo\"}")" 0
'

test_expect_success 'request-buffering off: the body streams through; a chunked one is still buffered for its length' '
	head -c 60000 "$T/b100k" >"$T/b60k" &&
	expect_eq "$(http POST "http://$P/s/count" --data-binary @"$T/b60k")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"contentLength\"]")" 60000 &&
	expect_eq "$(http POST "http://$P/s/count" -H "Transfer-Encoding: chunked" --data-binary @"$T/b60k")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"contentLength\"]")" 60000
'

test_done
