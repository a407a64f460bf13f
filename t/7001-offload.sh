#!/bin/sh
# File offload: a backend answers with X-Accel-Redirect and the gateway
# serves the file itself with sendfile(): validators, conditional requests,
# single ranges, path safety beneath offload-root, the header dropped on
# routes without one, and a big slow download that neither grows the
# worker nor blocks its other requests.
. "$(dirname "$0")/lib.sh"

M=$T/media
SIZE=5242880

test_expect_success 'media tree: files, a directory, symlinks in and out' '
	mkdir -p "$M/sub" &&
	head -c $SIZE /dev/urandom >"$M/big.mp4" &&
	printf "hello offload\n" >"$M/small.txt" &&
	printf "inner\n" >"$M/sub/inner.txt" &&
	printf "TOP-SECRET\n" >"$T/secret" &&
	ln -s "$T/secret" "$M/out-link" &&
	ln -s small.txt "$M/in-link"
'

test_expect_success 'start fcgi-echo and the gateway (one worker)' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/f\" service=\"echo\" rewrite=\"/\" offload-root=\"$M\"/>
  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"4\"/></service>" \
	GW_LIMITS="header-bytes=\"16k\" target=\"8k\"" \
	GW_WORKERS=1 gateway_up
'
F=http://127.0.0.1:$API_PORT/f
E=http://127.0.0.1:$API_PORT/e

# hdr NAME: the value of response header NAME in $T/headers.
hdr() {
	grep -i "^$1:" "$T/headers" | head -n 1 | cut -d: -f2- |
	    sed "s/^ *//; s/\r\$//"
}

# off PATH [curl args]: GET the offloaded PATH as video/mp4.
off() {
	p=$1
	shift
	http GET "$F/offload?path=$p&type=video/mp4" "$@"
}

test_expect_success 'a config with a missing offload-root is refused' '
	sed "s|offload-root=\"$M\"|offload-root=\"$T/nope\"|" \
	    "$T/conf/gateway.xml" >"$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/bad.err" &&
	grep -q "offload-root" "$T/bad.err"
'

test_expect_success 'whole file: byte-exact with its validators' '
	expect_eq "$(off big.mp4)" 200 &&
	cmp "$M/big.mp4" "$T/body" &&
	expect_eq "$(hdr Content-Length)" $SIZE &&
	expect_eq "$(hdr Content-Type)" video/mp4 &&
	expect_eq "$(hdr Accept-Ranges)" bytes &&
	expect_eq "$(hdr Cache-Control)" "private, max-age=60" &&
	hdr ETag | grep -Eq "^\"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+\"\$" &&
	expect_eq "$(hdr Last-Modified)" "$(TZ=GMT date -r "$M/big.mp4" "+%a, %d %b %Y %H:%M:%S GMT")" &&
	! grep -qi "^x-accel-redirect" "$T/headers" &&
	loggrep access.log "GET /f/offload[^ ]* HTTP/1.1\" 200 $SIZE "
'
ETAG=$(hdr ETag)
LM=$(hdr Last-Modified)

test_expect_success 'range: first 100 bytes' '
	expect_eq "$(off big.mp4 -H "Range: bytes=0-99")" 206 &&
	head -c 100 "$M/big.mp4" | cmp - "$T/body" &&
	expect_eq "$(hdr Content-Range)" "bytes 0-99/$SIZE" &&
	expect_eq "$(hdr Content-Length)" 100
'

test_expect_success 'range: the middle' '
	expect_eq "$(off big.mp4 -H "Range: bytes=1000000-1999999")" 206 &&
	tail -c +1000001 "$M/big.mp4" | head -c 1000000 | cmp - "$T/body" &&
	expect_eq "$(hdr Content-Range)" "bytes 1000000-1999999/$SIZE"
'

test_expect_success 'range: suffix (last 100 bytes)' '
	expect_eq "$(off big.mp4 -H "Range: bytes=-100")" 206 &&
	tail -c 100 "$M/big.mp4" | cmp - "$T/body" &&
	expect_eq "$(hdr Content-Range)" "bytes $((SIZE - 100))-$((SIZE - 1))/$SIZE"
'

test_expect_success 'range: open-ended, and an end beyond the size clamped' '
	expect_eq "$(off big.mp4 -H "Range: bytes=5242000-")" 206 &&
	tail -c 880 "$M/big.mp4" | cmp - "$T/body" &&
	expect_eq "$(off big.mp4 -H "Range: bytes=5242000-9999999")" 206 &&
	tail -c 880 "$M/big.mp4" | cmp - "$T/body"
'

test_expect_success 'range beyond the end: 416 with Content-Range */size' '
	expect_eq "$(off big.mp4 -H "Range: bytes=6000000-")" 416 &&
	expect_eq "$(hdr Content-Range)" "bytes */$SIZE" &&
	expect_eq "$(json "j[\"httpStatus\"]")" REQUESTED_RANGE_NOT_SATISFIABLE
'

test_expect_success 'malformed ranges are ignored: 200, whole file' '
	for r in "bytes=abc" "bytes=9-1" "items=0-9" "bytes=" "bytes=--5"; do
		expect_eq "$(off big.mp4 -H "Range: $r")" 200 &&
		cmp "$M/big.mp4" "$T/body" || return 1
	done
'

test_expect_success 'several ranges: the first one only (contract 4.6.2)' '
	expect_eq "$(off big.mp4 -H "Range: bytes=0-9,20-29")" 206 &&
	expect_eq "$(hdr Content-Range)" "bytes 0-9/$SIZE" &&
	head -c 10 "$M/big.mp4" | cmp - "$T/body"
'

test_expect_success 'If-None-Match with the ETag (also weak, in a list): 304, no body' '
	rm -f "$T/body" &&
	expect_eq "$(off big.mp4 -H "If-None-Match: $ETAG")" 304 &&
	[ ! -s "$T/body" ] &&
	expect_eq "$(hdr ETag)" "$ETAG" &&
	expect_eq "$(off big.mp4 -H "If-None-Match: \"x\", W/$ETAG")" 304 &&
	expect_eq "$(off big.mp4 -H "If-None-Match: \"other\"")" 200
'

test_expect_success 'If-Modified-Since: 304 unless modified since' '
	rm -f "$T/body" &&
	expect_eq "$(off big.mp4 -H "If-Modified-Since: $LM")" 304 &&
	[ ! -s "$T/body" ] &&
	expect_eq "$(off big.mp4 -H "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT")" 200 &&
	expect_eq "$(off big.mp4 -H "If-Modified-Since: $LM" -H "If-None-Match: \"other\"")" 200
'

test_expect_success 'If-Range: stale ETag gives the whole file, current one the range' '
	expect_eq "$(off big.mp4 -H "Range: bytes=0-99" -H "If-Range: \"stale\"")" 200 &&
	cmp "$M/big.mp4" "$T/body" &&
	expect_eq "$(off big.mp4 -H "Range: bytes=0-99" -H "If-Range: $ETAG")" 206 &&
	expect_eq "$(off big.mp4 -H "Range: bytes=0-99" -H "If-Range: $LM")" 206
'

test_expect_success 'HEAD: headers only' '
	curl -s -I -o /dev/null -D "$T/headers" -w "%{http_code}" \
	    "$F/offload?path=small.txt&type=text/plain" >"$T/code" &&
	expect_eq "$(cat "$T/code")" 200 &&
	expect_eq "$(hdr Content-Length)" 14 &&
	expect_eq "$(hdr Content-Type)" text/plain
'

test_expect_success 'small file and a file in a subdirectory' '
	expect_eq "$(http GET "$F/offload?path=small.txt&type=text/plain")" 200 &&
	cmp "$M/small.txt" "$T/body" &&
	expect_eq "$(http GET "$F/offload?path=sub/inner.txt&type=text/plain")" 200 &&
	cmp "$M/sub/inner.txt" "$T/body" &&
	expect_eq "$(http GET "$F/offload?path=/small.txt&type=text/plain")" 200
'

test_expect_success 'escapes, symlinks, directories and bad names: 404, nothing leaks' '
	long=$(printf "%0300d" 0) &&
	deep=$(python3 -c "print(\"/\".join([\"d\" * 200] * 25))") &&
	for p in ../secret sub/../../secret ../../etc/passwd /etc/passwd \
	    /../secret a/../../b sub/.. .. "" out-link in-link sub \
	    missing.mp4 "$long" "$deep"; do
		expect_eq "$(off "$p")" 404 &&
		! grep -q TOP-SECRET "$T/body" &&
		! grep -q "root:" "$T/body" || { echo "path [$p]"; return 1; }
	done &&
	expect_eq "$(json "j[\"httpStatus\"]")" NOT_FOUND &&
	loggrep gateway.log "rid=[^ ]* route=/f: file \"\\.\\./secret\" refused"
'

test_expect_success 'a NUL byte in the header (from a raw FastCGI peer) is refused' '
	spawn bad python3 "$ROOT/t/helper/fcgi-bad.py" "$T/run/bad.sock" nul-offload &&
	wait_for test -S "$T/run/bad.sock" &&
	stop_pid $pid_gateway &&
	ROUTES="  <route listen=\"api\" prefix=\"/f\" service=\"echo\" rewrite=\"/\" offload-root=\"$M\"/>
  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>
  <route listen=\"api\" prefix=\"/n\" service=\"bad\" offload-root=\"$M\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"4\"/></service>
  <service name=\"bad\"><instance address=\"unix:$T/run/bad.sock\" maxconn=\"2\"/></service>" \
	GW_LIMITS="header-bytes=\"16k\" target=\"8k\"" \
	GW_WORKERS=1 gateway_up &&
	code=$(http GET "http://127.0.0.1:$API_PORT/n/x") && echo "$code" &&
	! grep -q "hello offload" "$T/body" &&
	expect_eq "$code" 502
'

test_expect_success 'a route without offload-root neither honours nor passes the header' '
	rm -f "$T/body" &&
	expect_eq "$(http GET "$E/offload?path=small.txt&type=text/plain")" 200 &&
	! grep -qi "^x-accel-redirect" "$T/headers" &&
	[ ! -s "$T/body" ]
'

test_expect_success 'keep-alive goes on after an offloaded file' '
	curl -sv -o /dev/null -o /dev/null "$F/offload?path=big.mp4&type=video/mp4" \
	    "$F/offload?path=small.txt&type=text/plain" 2>"$T/v" &&
	grep -qi "re-using existing connection" "$T/v"
'

test_expect_success 'a 200 MB offloaded download arrives byte-exact' '
	head -c 209715200 /dev/urandom >"$M/huge.bin" &&
	expect_eq "$(http GET "$F/offload?path=huge.bin&type=application/octet-stream")" 200 &&
	expect_eq "$(hdr Content-Length)" 209715200 &&
	cmp "$M/huge.bin" "$T/body" && rm -f "$T/body"
'

test_expect_success 'a slow reader does not block other requests on the worker' '
	curl -s --limit-rate 2M -o /dev/null --max-time 4 \
	    "$F/offload?path=huge.bin&type=application/octet-stream" &
	slow=$! &&
	sleep 1 &&
	start=$(date +%s%N) &&
	expect_eq "$(off small.txt)" 200 &&
	expect_eq "$(http GET "$E/small")" 200 &&
	end=$(date +%s%N) &&
	echo "$(( (end - start) / 1000000 )) ms" &&
	[ $(( (end - start) / 1000000 )) -lt 1000 ] &&
	{ wait $slow; true; }
'

test_expect_success 'gateway memory stayed bounded (peak RSS of the worker under 64 MB)' '
	kids=$(cat /proc/$pid_gateway/task/*/children) && [ -n "$kids" ] &&
	for k in $kids; do grep VmHWM /proc/$k/status; done >"$T/hwm" &&
	cat "$T/hwm" &&
	expect_eq "$(awk "\$2 > 65536" "$T/hwm" | wc -l)" 0 &&
	rm -f "$M/huge.bin"
'

test_expect_success 'the gateway keeps serving afterwards' '
	expect_eq "$(off small.txt)" 200 &&
	cmp "$M/small.txt" "$T/body"
'

test_done
