#!/bin/sh
# What a request becomes for a FastCGI app (t/helper/fcgi-echo's /param
# answers any param as received), and what the gateway refuses before:
# repeated fields joined into one param (RFC 3875 4.1.18), CONTENT_LENGTH,
# Host ports, two Authorization fields, absolute-form targets checked
# against the listener's hosts.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start fcgi-echo and the gateway' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>
  <route listen=\"idp\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	API_LISTEN_ATTRS="hosts=\"api.example [::1]  LOCALHOST\"" \
	gateway_up
'
P=$API_PORT

# ask PORT TARGET [LINE...]: GET TARGET with the header lines given (Host
# too), then Connection: close; prints the raw reply.
ask() {
	ask_port=$1
	ask_target=$2
	shift 2
	{
		printf "GET %s HTTP/1.1\r\n" "$ask_target"
		for l in "$@"; do
			printf "%s\r\n" "$l"
		done
		printf "Connection: close\r\n\r\n"
	} | raw "$ask_port" --idle 3
}

# status FILE: the status code of the reply in FILE.
status() {
	head -n 1 "$1" | cut -d" " -f2
}

# value FILE: responseBody.value of the JSON reply in FILE ("null" when
# the param was absent).
value() {
	python3 -c 'import json, sys
d = open(sys.argv[1], "rb").read().split(b"\r\n\r\n", 1)[1]
v = json.loads(d)["responseBody"]["value"]
print("null" if v is None else v)' "$1"
}

# envelope FILE STATUS MESSAGE: a JSON error envelope with the message,
# and the connection closed.
envelope() {
	expect_eq "$(status "$1")" "$2" &&
	grep -q "\"httpStatus\":\"BAD_REQUEST\"" "$1" &&
	grep -q "$3" "$1" &&
	grep -q "^Connection: close" "$1"
}

test_expect_success 'two Cookie fields reach the app as one HTTP_COOKIE joined with "; "' '
	ask $P "/e/param?name=HTTP_COOKIE" "Host: x" "Cookie: a=1" \
	    "X-Other: y" "cookie: b=2; c=3" >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	expect_eq "$(value "$T/r")" "a=1; b=2; c=3"
'

test_expect_success 'other repeated fields are joined with ", " in the order received' '
	ask $P "/e/param?name=HTTP_X_MULTI" "Host: x" "X-Multi: 1" \
	    "Accept: */*" "x-multi: 2, 3" "X-MULTI: 4" >"$T/r" &&
	expect_eq "$(value "$T/r")" "1, 2, 3, 4" &&
	ask $P "/e/param?name=HTTP_ACCEPT" "Host: x" "Accept: a/b" \
	    "Accept: c/d" >"$T/r" &&
	expect_eq "$(value "$T/r")" "a/b, c/d"
'

test_expect_success 'CONTENT_LENGTH comes with every body, a chunked one too (RFC 3875 4.1.2)' '
	printf "POST /e/param?name=CONTENT_LENGTH HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc" |
	    raw $P --idle 3 >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	expect_eq "$(value "$T/r")" 3 &&
	printf "POST /e/param?name=CONTENT_LENGTH HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n" |
	    raw $P --idle 3 >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	expect_eq "$(value "$T/r")" 3
'

test_expect_success 'Host with a port that is not digits up to 65535 is a 400 envelope' '
	for h in "x:99999" "x:65536" "x:8o" "x:-1" "x:1:2" ":80" "[::1]x" "[::1"; do
		ask $P "/e/param?name=HTTP_HOST" "Host: $h" >"$T/r" &&
		envelope "$T/r" 400 "Malformed HTTP request" ||
		{ echo "Host: $h was not refused"; return 1; }
	done
'

test_expect_success 'Host with an empty port, port 65535 or an IPv6 literal is served' '
	for h in "x:" "x:65535" "[::1]:8080" "127.0.0.1:1"; do
		ask $P "/e/param?name=HTTP_HOST" "Host: $h" >"$T/r" &&
		expect_eq "$(status "$T/r")" 200 &&
		expect_eq "$(value "$T/r")" "$h" || return 1
	done
'

test_expect_success 'two Authorization fields are a 400 envelope, one is forwarded' '
	ask $P "/e/param?name=HTTP_AUTHORIZATION" "Host: x" \
	    "Authorization: Bearer a" "Authorization: Bearer b" >"$T/r" &&
	envelope "$T/r" 400 "Malformed HTTP request" &&
	ask $P "/e/param?name=HTTP_AUTHORIZATION" "Host: x" \
	    "authorization: Basic eA==" "AUTHORIZATION:" >"$T/r" &&
	expect_eq "$(status "$T/r")" 400 &&
	ask $P "/e/param?name=HTTP_AUTHORIZATION" "Host: x" \
	    "Authorization: Bearer a" >"$T/r" &&
	expect_eq "$(value "$T/r")" "Bearer a"
'

test_expect_success 'absolute-form targets naming a host of the listener are served' '
	ask $P "http://api.example:$P/e/param?name=HTTP_HOST" "Host: other" >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	expect_eq "$(value "$T/r")" "api.example:$P" &&
	ask $P "http://localhost/e/param?name=SCRIPT_NAME" "Host: x" >"$T/r" &&
	expect_eq "$(value "$T/r")" /param &&
	ask $P "https://[::1]:$P/e/param?name=REQUEST_URI" "Host: x" >"$T/r" &&
	expect_eq "$(value "$T/r")" "/param?name=REQUEST_URI"
'

test_expect_success 'absolute-form targets naming another host are a 400 envelope' '
	ask $P "http://127.0.0.1:$P/e/param?name=HTTP_HOST" "Host: 127.0.0.1" >"$T/r" &&
	envelope "$T/r" 400 "Absolute request target names another host" &&
	ask $P "http://api.example.org/e/param?name=HTTP_HOST" "Host: x" >"$T/r" &&
	envelope "$T/r" 400 "Absolute request target names another host" &&
	loggrep access.log "\"GET http://127.0.0.1:$P/e/param[^\"]*\" 400 "
'

test_expect_success 'a listener without hosts takes localhost, 127.0.0.1 and [::1]' '
	ask $IDP_PORT "http://127.0.0.1:$IDP_PORT/e/param?name=SERVER_NAME" "Host: x" >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	expect_eq "$(value "$T/r")" idp &&
	ask $IDP_PORT "http://LocalHost/e/param?name=SERVER_NAME" "Host: x" >"$T/r" &&
	expect_eq "$(status "$T/r")" 200 &&
	ask $IDP_PORT "http://api.example/e/param?name=SERVER_NAME" "Host: x" >"$T/r" &&
	envelope "$T/r" 400 "Absolute request target names another host"
'

test_expect_success 'hosts with a port or a path is refused with file:line' '
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml" &&
	sed "s/name=\"idp\"/name=\"idp\" hosts=\"a.example b.example:80\"/" \
	    "$T/conf/gateway.xml" >"$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*: .*hosts" "$T/t.err" &&
	sed "s/name=\"idp\"/name=\"idp\" hosts=\"a.example\"/" \
	    "$T/conf/gateway.xml" >"$T/conf/good.xml" &&
	"$BIN/elp-gateway" -t -c "$T/conf/good.xml"
'

test_expect_success 'the gateway logged no worker crash' '
	! grep -q "died" "$T/log/gateway.log"
'

test_done
