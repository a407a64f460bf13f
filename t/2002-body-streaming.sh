#!/bin/sh
# Request and response bodies through the gateway, byte-exact, against the
# fcgi-echo app: Content-Length and chunked uploads, large uploads and
# downloads streamed, backend STDERR in the error log, a hanging backend
# answered 504 within the response timeout.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start fcgi-echo and the gateway' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\" max-body=\"200m\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_TIMEOUTS="header=\"5s\" body-idle=\"5s\" connect=\"1s\" response=\"1500ms\"" \
	gateway_up
'
E=http://127.0.0.1:$API_PORT/e

test_expect_success 'Content-Length body arrives byte-exact' '
	printf "{\"k\":\"v\\u00e9\",\"n\":[1,2,3]}" >"$T/in" &&
	expect_eq "$(http POST "$E/echo" -H "Content-Type: application/json" --data-binary @"$T/in")" 200 &&
	cmp "$T/in" "$T/body" &&
	grep -qi "^content-type: application/json" "$T/headers"
'

test_expect_success 'chunked body is decoded for the app, byte-exact' '
	head -c 300000 /dev/urandom >"$T/rnd" &&
	expect_eq "$(http POST "$E/echo" -H "Transfer-Encoding: chunked" --data-binary @"$T/rnd")" 200 &&
	cmp "$T/rnd" "$T/body"
'

test_expect_success 'a 200 MB upload streams through (length and sha256 as sent)' '
	head -c 209715200 /dev/urandom >"$T/big" &&
	curl -s -o "$T/body" -T "$T/big" -X POST "$E/count" &&
	expect_eq "$(json "j[\"responseBody\"][\"bytes\"]")" 209715200 &&
	expect_eq "$(json "j[\"responseBody\"][\"sha256\"]")" "$(sha256sum "$T/big" | cut -d" " -f1)" &&
	rm -f "$T/big"
'

test_expect_success 'an upload longer than the response timeout (1.5 s) is not cut off' '
	head -c 3000000 /dev/urandom >"$T/slow" &&
	start=$(date +%s%N) &&
	curl -s -o "$T/body" --limit-rate 1M -T "$T/slow" -X POST "$E/count" &&
	end=$(date +%s%N) &&
	[ $(( (end - start) / 1000000 )) -gt 2000 ] &&
	expect_eq "$(json "j[\"responseBody\"][\"bytes\"]")" 3000000 &&
	rm -f "$T/slow"
'

test_expect_success 'a 200 MB download streams through with its Content-Length' '
	curl -s -o "$T/dl" -D "$T/headers" "$E/bytes?n=209715200" &&
	expect_eq "$(stat -c %s "$T/dl")" 209715200 &&
	grep -qi "^content-length: 209715200" "$T/headers" &&
	rm -f "$T/dl"
'

test_expect_success 'a slow reader: the download pauses instead of piling up in the gateway' '
	curl -s --limit-rate 2M -o /dev/null --max-time 3 "$E/bytes?n=209715200";
	true
'

test_expect_success 'gateway memory stayed bounded (peak RSS of every worker under 64 MB)' '
	kids=$(cat /proc/$pid_gateway/task/*/children) && [ -n "$kids" ] &&
	for k in $kids; do grep VmHWM /proc/$k/status; done >"$T/hwm" &&
	cat "$T/hwm" &&
	expect_eq "$(awk "\$2 > 65536" "$T/hwm" | wc -l)" 0
'

test_expect_success 'backend STDERR lands in the error log, tagged with the instance' '
	expect_eq "$(http GET "$E/stderr" -H "X-Request-Id: err-rid-1")" 200 &&
	sleep 0.3 && loggrep gateway.log "echo@unix:.*stderr: echo stderr line for err-rid-1"
'

test_expect_success 'a backend slower than the response timeout gives a 504 envelope in time' '
	start=$(date +%s%N) &&
	expect_eq "$(http GET "$E/sleep?ms=4000")" 504 &&
	end=$(date +%s%N) &&
	[ $(( (end - start) / 1000000 )) -lt 3500 ] &&
	expect_eq "$(json "j[\"httpStatus\"]")" GATEWAY_TIMEOUT
'

test_expect_success 'the gateway keeps serving after the timeout' '
	expect_eq "$(http GET "$E/small")" 200
'

test_done
