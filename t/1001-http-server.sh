#!/bin/sh
# elp-gateway's HTTP/1.1 server side against the real stack: strict
# parsing answered with the right status, keep-alive rules of 1.0 and 1.1,
# request bodies (Content-Length and chunked) forwarded, HEAD, CORS.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start the stack' '
	db_up && course_up && gateway_up
'
P=$API_PORT
C=/course-management-api

# status PORT: first status code in the reply read from stdin.
status() {
	raw "$1" --idle 2 | head -n 1 | cut -d" " -f2
}

test_expect_success 'duplicate Content-Length is 400 and the connection closes' '
	expect_eq "$(printf "POST $C HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab" | status $P)" 400
'

test_expect_success 'Transfer-Encoding with Content-Length is 400' '
	expect_eq "$(printf "POST $C HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" | status $P)" 400
'

test_expect_success 'obs-fold, bare LF, space before colon are 400' '
	expect_eq "$(printf "GET $C HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n" | status $P)" 400 &&
	expect_eq "$(printf "GET $C HTTP/1.1\nHost: x\n\n" | status $P)" 400 &&
	expect_eq "$(printf "GET $C HTTP/1.1\r\nHost : x\r\n\r\n" | status $P)" 400
'

test_expect_success 'unsupported version 505, unknown method 501' '
	expect_eq "$(printf "GET $C HTTP/2.0\r\nHost: x\r\n\r\n" | status $P)" 505 &&
	expect_eq "$(printf "BREW $C HTTP/1.1\r\nHost: x\r\n\r\n" | status $P)" 501
'

test_expect_success 'over-long target 414, too many headers 431' '
	long=$(head -c 3000 /dev/zero | tr "\0" a) &&
	expect_eq "$(printf "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n" | status $P)" 414 &&
	hdrs=$(i=0; while [ $i -lt 60 ]; do printf "X-H$i: v\r\n"; i=$((i+1)); done) &&
	expect_eq "$(printf "GET $C HTTP/1.1\r\nHost: x\r\n$hdrs\r\n\r\n" | status $P)" 431
'

test_expect_success 'error answers are JSON envelopes' '
	printf "GET $C HTTP/2.0\r\nHost: x\r\n\r\n" | raw $P --idle 2 >"$T/r" &&
	grep -q "\"httpStatus\":\"HTTP_VERSION_NOT_SUPPORTED\"" "$T/r" &&
	grep -q "Connection: close" "$T/r"
'

test_expect_success 'HTTP/1.0 closes by default, keeps alive on request' '
	printf "GET $C/550e8400-e29b-41d4-a716-446655440000 HTTP/1.0\r\n\r\n" | raw $P --idle 3 >"$T/r10" &&
	grep -q "^HTTP/1.0 200" "$T/r10" && grep -q "^Connection: close" "$T/r10" &&
	printf "GET $C/550e8400-e29b-41d4-a716-446655440000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET $C/bad HTTP/1.0\r\n\r\n" |
	    raw $P --idle 3 >"$T/r10k" &&
	expect_eq "$(grep -o "HTTP/1.0 [0-9]*" "$T/r10k" | tr "\n" " ")" "HTTP/1.0 200 HTTP/1.0 400 " &&
	grep -q "^Connection: keep-alive" "$T/r10k"
'

test_expect_success 'Content-Length body is forwarded; the connection stays usable' '
	printf "POST $C/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}GET $C/bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	    raw $P >"$T/rb" &&
	expect_eq "$(grep -o "HTTP/1.1 [0-9]*" "$T/rb" | tr "\n" " ")" "HTTP/1.1 405 HTTP/1.1 400 "
'

test_expect_success 'chunked request body is decoded and forwarded' '
	printf "POST $C/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer-X: y\r\n\r\nGET $C/bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	    raw $P >"$T/rc" &&
	expect_eq "$(grep -o "HTTP/1.1 [0-9]*" "$T/rc" | tr "\n" " ")" "HTTP/1.1 405 HTTP/1.1 400 "
'

test_expect_success 'bad chunk size is 400' '
	expect_eq "$(printf "POST $C HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" | status $P)" 400
'

test_expect_success 'Expect: 100-continue gets an interim response, other Expect 417' '
	printf "POST $C/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" |
	    raw $P --idle 2 >"$T/rcont" &&
	grep -q "^HTTP/1.1 100 Continue" "$T/rcont" &&
	expect_eq "$(printf "GET $C HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n" | status $P)" 417
'

test_expect_success 'HEAD gets the headers without a body' '
	printf "HEAD $C/550e8400-e29b-41d4-a716-446655440000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	    raw $P >"$T/rh" &&
	grep -q "^HTTP/1.1 200" "$T/rh" && grep -q "^Content-Length: [1-9]" "$T/rh" &&
	! grep -q "courseName" "$T/rh"
'

test_expect_success 'CORS: any origin on answers and errors, preflight by the gateway' '
	http GET "http://127.0.0.1:$P$C/bad" -H "Origin: http://localhost:4200" >/dev/null &&
	grep -qi "^access-control-allow-origin: \*" "$T/headers" &&
	grep -qi "^access-control-expose-headers: content-range, .*etag.*x-request-id" "$T/headers" &&
	expect_eq "$(http OPTIONS "http://127.0.0.1:$P$C" -H "Origin: http://localhost:4200" \
	    -H "Access-Control-Request-Method: POST" \
	    -H "Access-Control-Request-Headers: authorization,content-type")" 200 &&
	grep -qi "^access-control-allow-headers: authorization,content-type" "$T/headers" &&
	grep -qi "^access-control-allow-methods: .*POST" "$T/headers"
'

test_expect_success 'CORS per route: listed origins are echoed, others refused' '
	stop_pid $pid_gateway &&
	ROUTES="  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\" cors=\"http://a.example https://b.example:8443\"/>" \
	    gateway_up &&
	http GET "http://127.0.0.1:$P$C/bad" -H "Origin: https://b.example:8443" >/dev/null &&
	grep -qi "^access-control-allow-origin: https://b.example:8443" "$T/headers" &&
	http GET "http://127.0.0.1:$P$C/bad" -H "Origin: http://evil.example" >/dev/null &&
	! grep -qi "^access-control-allow-origin" "$T/headers" &&
	expect_eq "$(http OPTIONS "http://127.0.0.1:$P$C" -H "Origin: http://evil.example" \
	    -H "Access-Control-Request-Method: GET")" 403
'

test_expect_success 'a request head arriving one byte at a time still works' '
	printf "GET $C/550e8400-e29b-41d4-a716-446655440000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" |
	    raw $P --split 1 --delay 0.005 >"$T/rs" &&
	grep -q "^HTTP/1.1 200" "$T/rs"
'

test_expect_success 'a client that never finishes its head is cut off with 408' '
	printf "GET $C HTTP/1.1\r\nHost: x\r\n" | raw $P --idle 8 >"$T/rslow" &&
	grep -q "^HTTP/1.1 408" "$T/rslow"
'

test_expect_success 'the gateway logged no worker crash' '
	! grep -q "died" "$T/log/gateway.log"
'

test_done
