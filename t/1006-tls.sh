#!/bin/sh
# t/run: alone (it loads the machine; the runner gives it the machine to itself)
# TLS on gateway listeners: a CA, an intermediate and server certificates
# the test makes with the openssl CLI; what -t refuses; the handshake, ALPN
# http/1.1, TLS 1.0/1.1 and weak ciphers refused (openssl s_client, the
# gateway's log says it refused), HSTS; proxied requests, bodies and an
# offloaded file byte-exact over TLS; HTTPS, REQUEST_SCHEME and
# X-Forwarded-Proto as the backend sees them; trusted proxies and
# X-Forwarded-For (curl from 127.0.0.2 plays an untrusted peer); the
# plain listener that redirects to HTTPS; new certificates on SIGHUP while
# a keep-alive TLS connection and a download go on; a stalled handshake
# cut at the header timeout; elp-auth's cookies Secure over TLS only; and
# testssl.sh finding no weak protocol or cipher.
. "$(dirname "$0")/lib.sh"

PKI=$T/pki
M=$T/media
TLS_PORT=$(free_port)
PLAIN_PORT=$(free_port)
REDIR_PORT=$(free_port)
HDR_TIMEOUT=2

# cert NAME CN ISSUER [ca]: a P-256 key and a certificate for CN signed by
# ISSUER (self-signed when ISSUER is "self"); "ca" makes it a CA.
cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$PKI/$1.key" 2>/dev/null &&
	chmod 600 "$PKI/$1.key" &&
	if [ "${4:-}" = ca ]; then
		ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign"
	else
		ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
	fi &&
	printf '%s\n' "$ext" >"$PKI/$1.ext" &&
	openssl req -new -key "$PKI/$1.key" -subj "/CN=$2" \
	    -out "$PKI/$1.csr" 2>/dev/null &&
	if [ "$3" = self ]; then
		openssl x509 -req -in "$PKI/$1.csr" -signkey "$PKI/$1.key" \
		    -days 30 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
	else
		openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$3.crt" \
		    -CAkey "$PKI/$3.key" -CAcreateserial -days 30 \
		    -extfile "$PKI/$1.ext" -out "$PKI/$1.crt" 2>/dev/null
	fi
}

# gw_xml FILE: the gateway configuration; $TLS_BODY is the <tls> element.
gw_xml() {
	cat >"$1" <<XML
<gateway workers="2" registry="services.xml" pidfile="$T/run/gateway.pid">
  <log level="info" error="$T/log/gateway.log" access="$T/log/access.log"/>
  <listen name="api" address="127.0.0.1:$TLS_PORT">
    $TLS_BODY
  </listen>
  <listen name="plain" address="127.0.0.1:$PLAIN_PORT"/>
  <listen name="redir" address="127.0.0.1:$REDIR_PORT" redirect-https="$TLS_PORT"/>
  <listen name="admin" address="127.0.0.1:$ADMIN_PORT" admin="yes"/>
  <listen name="idp" address="127.0.0.1:$IDP_PORT"/>
  <timeouts header="${HDR_TIMEOUT}s" keepalive="30s" drain="10s"/>
  <limits max-body="2m" header-bytes="16k"/>
  <real-ip from="127.0.0.1 10.0.0.0/8"/>
  <route listen="api" prefix="/e" service="echo" rewrite="/"/>
  <route listen="api" prefix="/s" service="echo" rewrite="/" request-buffering="off" response-buffering="off"/>
  <route listen="api" prefix="/f" service="echo" rewrite="/" offload-root="$M"/>
  <route listen="plain" prefix="/e" service="echo" rewrite="/"/>
  $AUTH_ROUTES
</gateway>
XML
}

TLS_BODY="<tls cert-file=\"$PKI/chain.pem\" key-file=\"$PKI/srv.key\" hsts=\"max-age=63072000; includeSubDomains\"/>"
AUTH_ROUTES="<route listen=\"api\" prefix=\"/realms/e-learning-platform\" service=\"auth\"/>
  <route listen=\"plain\" prefix=\"/realms/e-learning-platform\" service=\"auth\"/>"
S=https://localhost:$TLS_PORT

# tcurl URL [args]: curl over TLS trusting the test's CA; as http().
tcurl() {
	u=$1
	shift
	curl -s --cacert "$PKI/ca.crt" -o "$T/body" -D "$T/headers" \
	    -w '%{http_code}' --max-time 20 "$@" "$u"
}

# hdr NAME: the value of response header NAME in $T/headers.
hdr() {
	grep -i "^$1:" "$T/headers" | head -n 1 | cut -d: -f2- |
	    sed "s/^ *//; s/\r\$//"
}

# sclient ARGS...: openssl s_client to the TLS listener; output in $T/sc.
sclient() {
	echo Q | openssl s_client -connect "127.0.0.1:$TLS_PORT" \
	    -servername localhost -CAfile "$PKI/ca.crt" "$@" >"$T/sc" 2>&1
}

# param URL NAME [curl args]: FastCGI param NAME as the echo app got it.
param() {
	pu=$1
	pn=$2
	shift 2
	curl -s --cacert "$PKI/ca.crt" --max-time 10 "$@" \
	    "$pu/param?name=$pn" | python3 -c 'import json, sys
v = json.load(sys.stdin)["responseBody"]["value"]
print("null" if v is None else v)'
}

test_expect_success 'a CA, an intermediate, two server certificates and a media file' '
	mkdir -p "$PKI" "$M" &&
	cert ca "elp test root" self ca &&
	cert int "elp test intermediate" ca ca &&
	cert srv localhost int &&
	cert srv2 localhost int &&
	cert other localhost self &&
	cat "$PKI/srv.crt" "$PKI/int.crt" >"$PKI/chain.pem" &&
	cat "$PKI/srv2.crt" "$PKI/int.crt" >"$PKI/chain2.pem" &&
	openssl verify -CAfile "$PKI/ca.crt" -untrusted "$PKI/int.crt" \
	    "$PKI/srv.crt" &&
	head -c 3000000 /dev/urandom >"$M/big.bin"
'

test_expect_success 'start MariaDB, elp-auth and fcgi-echo' '
	db_up &&
	auth_up &&
	echo_up echo 2 &&
	cat >"$T/conf/services.xml" <<XML
<services>
  <service name="echo"><instance address="unix:$T/run/echo.sock" maxconn="4"/></service>
  <service name="auth"><instance address="unix:$T/run/auth.sock" maxconn="2"/></service>
</services>
XML
'

test_expect_success '-t accepts the TLS configuration' '
	gw_xml "$T/conf/gateway.xml" &&
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml"
'

# refused TLS_BODY PATTERN: -t refuses the configuration with <tls>
# TLS_BODY, naming the line of <tls> and PATTERN.
refused() {
	TLS_BODY=$1 gw_xml "$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/t.err" &&
	line=$(grep -n "<tls" "$T/conf/bad.xml" | cut -d: -f1) &&
	grep -q "bad.xml:$line: .*$2" "$T/t.err" || {
		cat "$T/t.err"
		return 1
	}
}

test_expect_success '-t refuses a key of another certificate, a missing chain, a bad cipher list, a line break in hsts (file:line)' '
	refused "<tls cert-file=\"$PKI/chain.pem\" key-file=\"$PKI/other.key\"/>" \
	    "does not match the certificate" &&
	refused "<tls cert-file=\"$PKI/nope.pem\" key-file=\"$PKI/srv.key\"/>" \
	    "cert-file \"$PKI/nope.pem\"" &&
	printf "not a certificate\n" >"$PKI/junk.pem" &&
	refused "<tls cert-file=\"$PKI/junk.pem\" key-file=\"$PKI/srv.key\"/>" \
	    "cert-file \"$PKI/junk.pem\"" &&
	refused "<tls cert-file=\"$PKI/chain.pem\" key-file=\"$PKI/srv.key\" ciphers=\"NOPE-CIPHER\"/>" \
	    "no usable cipher" &&
	refused "<tls cert-file=\"$PKI/chain.pem\" key-file=\"$PKI/srv.key\" hsts=\"max-age=1&#10;X-Evil: 1\"/>" \
	    "hsts holds a line break"
'

test_expect_success '-t refuses a key file readable by others, and redirect-https on a TLS listener' '
	cp "$PKI/srv.key" "$PKI/open.key" && chmod 644 "$PKI/open.key" &&
	refused "<tls cert-file=\"$PKI/chain.pem\" key-file=\"$PKI/open.key\"/>" \
	    "readable by others" &&
	gw_xml "$T/conf/bad.xml" &&
	sed -i "s|address=\"127.0.0.1:$TLS_PORT\">|& <!-- -->|; s|<listen name=\"api\" |<listen name=\"api\" redirect-https=\"443\" |" \
	    "$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*: .*redirect-https on a listener with <tls>" "$T/t.err"
'

test_expect_success '-t refuses a real-ip entry that is not a network' '
	gw_xml "$T/conf/bad.xml" &&
	sed -i "s|from=\"127.0.0.1 10.0.0.0/8\"|from=\"127.0.0.1 10.1.0.0/8\"|" "$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*: real-ip from: \"10.1.0.0/8\"" "$T/t.err"
'

test_expect_success 'start the gateway' '
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz"
'

test_expect_success 'handshake: the chain verifies against the CA, ALPN http/1.1' '
	sclient -alpn h2,http/1.1 &&
	grep -q "Verify return code: 0 (ok)" "$T/sc" &&
	grep -q "ALPN protocol: http/1.1" "$T/sc" &&
	grep -q "1 s:.*CN *= *elp test intermediate" "$T/sc"
'

test_expect_success 'TLS 1.3 and 1.2 with ECDHE and AEAD are offered' '
	sclient -tls1_3 && grep -q "New, TLSv1.3" "$T/sc" &&
	sclient -tls1_2 && grep -q "New, TLSv1.2, Cipher is ECDHE-ECDSA-AES" "$T/sc" &&
	grep -q "GCM" "$T/sc" &&
	sclient -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 &&
	grep -q "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" "$T/sc"
'

test_expect_success 'TLS 1.0 and 1.1 are refused by the gateway (the client would take them)' '
	! sclient -tls1_1 -cipher "DEFAULT@SECLEVEL=0" &&
	! sclient -tls1 -cipher "DEFAULT@SECLEVEL=0" &&
	wait_for loggrep gateway.log "TLS handshake with 127.0.0.1 failed: unsupported protocol"
'

test_expect_success 'CBC, static RSA key exchange and other weak TLS 1.2 ciphers are refused' '
	for c in ECDHE-ECDSA-AES128-SHA ECDHE-ECDSA-AES256-SHA384 \
	    AES128-GCM-SHA256 AES128-SHA DES-CBC3-SHA; do
		! sclient -tls1_2 -cipher "$c@SECLEVEL=0" ||
		{ echo "$c accepted"; return 1; }
	done &&
	wait_for loggrep gateway.log "TLS handshake with 127.0.0.1 failed: no shared cipher"
'

test_expect_success 'a client offering only h2 gets no connection; http/1.0 is served' '
	! sclient -alpn h2 &&
	grep -qi "no application protocol" "$T/sc" &&
	sclient -alpn http/1.0 &&
	grep -q "ALPN protocol: http/1.0" "$T/sc" &&
	sclient -alpn h2,http/1.0,http/1.1 &&
	grep -q "ALPN protocol: http/1.1" "$T/sc"
'

test_expect_success 'proxied request over TLS: 200 with HSTS; none on the plain listener' '
	expect_eq "$(tcurl "$S/e/small")" 200 &&
	grep -q "\"hello\"" "$T/body" &&
	expect_eq "$(hdr Strict-Transport-Security)" "max-age=63072000; includeSubDomains" &&
	expect_eq "$(http GET "http://127.0.0.1:$PLAIN_PORT/e/small")" 200 &&
	! grep -qi "^Strict-Transport-Security" "$T/headers"
'

test_expect_success 'the gateway error envelope over TLS carries HSTS too' '
	expect_eq "$(tcurl "$S/nowhere")" 404 &&
	grep -q "\"httpStatus\":\"NOT_FOUND\"" "$T/body" &&
	test -n "$(hdr Strict-Transport-Security)"
'

test_expect_success 'bodies over TLS are byte-exact both ways, keep-alive included' '
	head -c 900000 /dev/urandom >"$T/up.bin" &&
	expect_eq "$(tcurl "$S/e/echo" -X POST --data-binary @"$T/up.bin" \
	    -H "Content-Type: application/octet-stream")" 200 &&
	cmp "$T/up.bin" "$T/body" &&
	expect_eq "$(tcurl "$S/e/bytes?n=2000000")" 200 &&
	expect_eq "$(wc -c <"$T/body")" 2000000 &&
	curl -s --cacert "$PKI/ca.crt" -o /dev/null -o /dev/null -w "%{num_connects} " \
	    "$S/e/small" "$S/e/bytes?n=300000" >"$T/nc" &&
	expect_eq "$(cat "$T/nc")" "1 0 "
'

test_expect_success 'a streamed request body over TLS reaches the backend whole' '
	head -c 1800000 /dev/urandom >"$T/up2.bin" &&
	expect_eq "$(tcurl "$S/s/count" -X POST --data-binary @"$T/up2.bin" \
	    -H "Content-Type: application/octet-stream")" 200 &&
	python3 - "$T/body" "$T/up2.bin" <<-PY
	import hashlib, json, sys
	r = json.load(open(sys.argv[1]))["responseBody"]
	d = open(sys.argv[2], "rb").read()
	assert r["bytes"] == len(d) and r["sha256"] == hashlib.sha256(d).hexdigest(), r
	PY
'

# A slow reader makes the socket full: SSL_write must be retried with the
# same bytes, from c_out (streamed) and from the spill file (buffered).
test_expect_success 'large responses to a slow TLS reader arrive whole, streamed and spilled' '
	curl -s --cacert "$PKI/ca.crt" --limit-rate 3000k -o "$T/s.bin" \
	    "$S/s/bytes?n=3000000" &&
	expect_eq "$(wc -c <"$T/s.bin")" 3000000 &&
	! tr -d x <"$T/s.bin" | grep -q . &&
	curl -s --cacert "$PKI/ca.crt" --limit-rate 3000k -o "$T/b.bin" \
	    "$S/e/bytes?n=3000000" &&
	expect_eq "$(wc -c <"$T/b.bin")" 3000000 &&
	! tr -d x <"$T/b.bin" | grep -q .
'

test_expect_success 'an offloaded file over TLS is byte-exact, a range too' '
	expect_eq "$(tcurl "$S/f/offload?path=big.bin&type=application/octet-stream")" 200 &&
	cmp "$M/big.bin" "$T/body" &&
	expect_eq "$(tcurl "$S/f/offload?path=big.bin&type=application/octet-stream" \
	    -H "Range: bytes=1000000-1999999")" 206 &&
	head -c 2000000 "$M/big.bin" | tail -c 1000000 >"$T/range" &&
	cmp "$T/range" "$T/body"
'

test_expect_success 'the backend sees HTTPS=on, REQUEST_SCHEME and X-Forwarded-Proto https over TLS' '
	expect_eq "$(param "$S/e" HTTPS)" on &&
	expect_eq "$(param "$S/e" REQUEST_SCHEME)" https &&
	expect_eq "$(param "$S/e" HTTP_X_FORWARDED_PROTO)" https
'

test_expect_success 'and http, no HTTPS on the plain listener, whatever an untrusted client claims' '
	P=http://127.0.0.1:$PLAIN_PORT/e &&
	expect_eq "$(param "$P" HTTPS)" null &&
	expect_eq "$(param "$P" REQUEST_SCHEME)" http &&
	expect_eq "$(param "$P" HTTP_X_FORWARDED_PROTO --interface 127.0.0.2 \
	    -H "X-Forwarded-Proto: https")" http &&
	expect_eq "$(param "$P" HTTPS --interface 127.0.0.2 \
	    -H "X-Forwarded-Proto: https")" null
'

test_expect_success 'a trusted proxy saying X-Forwarded-Proto: https makes it https' '
	P=http://127.0.0.1:$PLAIN_PORT/e &&
	expect_eq "$(param "$P" HTTPS -H "X-Forwarded-Proto: https")" on &&
	expect_eq "$(param "$P" HTTP_X_FORWARDED_PROTO -H "X-Forwarded-Proto: https")" https
'

test_expect_success 'trusted peer: REMOTE_ADDR from X-Forwarded-For, which gets the peer appended' '
	expect_eq "$(param "$S/e" REMOTE_ADDR -H "X-Forwarded-For: 203.0.113.7")" 203.0.113.7 &&
	expect_eq "$(param "$S/e" HTTP_X_FORWARDED_FOR -H "X-Forwarded-For: 203.0.113.7")" \
	    "203.0.113.7, 127.0.0.1" &&
	expect_eq "$(param "$S/e" REMOTE_ADDR -H "X-Forwarded-For: 198.51.100.9, 203.0.113.7, 10.9.8.7")" \
	    203.0.113.7 &&
	expect_eq "$(param "$S/e" REMOTE_ADDR -H "X-Forwarded-For: 198.51.100.9" \
	    -H "X-Forwarded-For: 10.1.1.1")" 198.51.100.9 &&
	expect_eq "$(param "$S/e" HTTP_X_FORWARDED_FOR -H "X-Forwarded-For: 198.51.100.9" \
	    -H "X-Forwarded-For: 10.1.1.1")" "198.51.100.9, 10.1.1.1, 127.0.0.1"
'

test_expect_success 'trusted peer with a malformed or absent X-Forwarded-For: the peer' '
	expect_eq "$(param "$S/e" REMOTE_ADDR -H "X-Forwarded-For: 203.0.113.7, evil")" 127.0.0.1 &&
	expect_eq "$(param "$S/e" REMOTE_ADDR)" 127.0.0.1 &&
	expect_eq "$(param "$S/e" HTTP_X_FORWARDED_FOR)" 127.0.0.1
'

test_expect_success 'untrusted peer (127.0.0.2): its own address, X-Forwarded-For appended to' '
	expect_eq "$(param "$S/e" REMOTE_ADDR --interface 127.0.0.2 \
	    -H "X-Forwarded-For: 203.0.113.7")" 127.0.0.2 &&
	expect_eq "$(param "$S/e" HTTP_X_FORWARDED_FOR --interface 127.0.0.2 \
	    -H "X-Forwarded-For: 203.0.113.7")" "203.0.113.7, 127.0.0.2"
'

test_expect_success 'the access log names the client as the trusted proxy tells it' '
	tcurl "$S/e/small?mark=xff-log" -H "X-Forwarded-For: 192.0.2.44" >/dev/null &&
	wait_for loggrep access.log "^192\.0\.2\.44 .*mark=xff-log" &&
	tcurl "$S/e/small?mark=xff-log2" --interface 127.0.0.2 \
	    -H "X-Forwarded-For: 192.0.2.45" >/dev/null &&
	wait_for loggrep access.log "^127\.0\.0\.2 .*mark=xff-log2"
'

test_expect_success 'the redirect listener: 301 for GET, 308 for POST, to the same target on https' '
	expect_eq "$(http GET "http://localhost:$REDIR_PORT/e/small?a=1&b=2")" 301 &&
	expect_eq "$(hdr Location)" "https://localhost:$TLS_PORT/e/small?a=1&b=2" &&
	expect_eq "$(http POST "http://127.0.0.1:$REDIR_PORT/e/echo" -d x=1)" 308 &&
	expect_eq "$(hdr Location)" "https://127.0.0.1:$TLS_PORT/e/echo" &&
	! grep -qi "^Strict-Transport-Security" "$T/headers" &&
	expect_eq "$(curl -s -L --cacert "$PKI/ca.crt" -o "$T/body" -w "%{http_code}" \
	    "http://localhost:$REDIR_PORT/e/small")" 200 &&
	grep -q "\"hello\"" "$T/body"
'

test_expect_success 'a host that cannot be in a URL is replaced by the listener name' '
	printf "GET /x HTTP/1.1\r\nHost: a!b\r\nConnection: close\r\n\r\n" |
	    raw "$REDIR_PORT" --idle 3 >"$T/r" &&
	grep -q "^Location: https://localhost:$TLS_PORT/x" "$T/r"
'

# The login form of elp-auth sets a cookie (the login attempt's).
AUTHZ="/realms/e-learning-platform/protocol/openid-connect/auth?response_type=code&client_id=spa-client&redirect_uri=http%3A%2F%2Flocalhost%3A4200%2Fgeneral%2Fcallback&scope=openid&state=s1&nonce=n1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

test_expect_success 'elp-auth cookies carry Secure over TLS' '
	expect_eq "$(tcurl "$S$AUTHZ")" 200 &&
	grep -i "^Set-Cookie:" "$T/headers" >"$T/cookies" &&
	test -s "$T/cookies" &&
	! grep -vi "; Secure" "$T/cookies"
'

test_expect_success 'and not over plain HTTP, even when an untrusted client claims https' '
	expect_eq "$(http GET "http://127.0.0.1:$PLAIN_PORT$AUTHZ" --interface 127.0.0.2 \
	    -H "X-Forwarded-Proto: https")" 200 &&
	grep -i "^Set-Cookie:" "$T/headers" >"$T/cookies" &&
	test -s "$T/cookies" &&
	! grep -qi "Secure" "$T/cookies"
'

test_expect_success 'a stalled handshake holds nothing and is cut at the header timeout' '
	python3 - "$TLS_PORT" "$HDR_TIMEOUT" "$PKI/ca.crt" >"$T/stall" <<-PY
	import socket, ssl, sys, time
	port, limit, ca = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
	s = socket.create_connection(("127.0.0.1", port))
	s.sendall(b"\x16\x03\x01\x00\xc8\x01")   # a ClientHello that stops
	t0 = time.monotonic()
	# Meanwhile a whole request is served.
	ctx = ssl.create_default_context(cafile=ca)
	with socket.create_connection(("127.0.0.1", port)) as c2:
	    with ctx.wrap_socket(c2, server_hostname="localhost") as t:
	        t.sendall(b"GET /e/small HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	        served = b"200 OK" in t.recv(4096)
	served_in = time.monotonic() - t0
	s.settimeout(limit + 5)
	try:
	    data = s.recv(100)
	except ConnectionResetError:
	    data = b""
	closed_in = time.monotonic() - t0
	print(served, round(served_in, 2), repr(data), round(closed_in, 2))
	ok = served and served_in < 1 and data == b"" and limit - 0.5 <= closed_in <= limit + 1.5
	sys.exit(0 if ok else 1)
	PY
'

# One TLS keep-alive connection: a request, then the certificate files
# are replaced and the master gets SIGHUP, then, once the new workers run,
# another request on the same connection (the old worker answers it while
# it drains); the certificates of that connection and of a new one are
# compared with the files'.
test_expect_success 'SIGHUP: new handshakes get the new certificate, an open keep-alive TLS connection keeps working' '
	openssl x509 -in "$PKI/srv.crt" -noout -serial | cut -d= -f2 >"$T/serial1" &&
	openssl x509 -in "$PKI/srv2.crt" -noout -serial | cut -d= -f2 >"$T/serial2" &&
	python3 - "$TLS_PORT" "$PKI" "$T/run/gateway.pid" >"$T/ka" <<-PY
	import os, shutil, signal, socket, ssl, sys, time
	port, pki, pidfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
	ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
	def serial(t):
	    return ssl.DER_cert_to_PEM_cert(t.getpeercert(True))
	def get(t, path):
	    t.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
	    buf = b""
	    while b"\r\n\r\n" not in buf:
	        buf += t.recv(65536)
	    head, body = buf.split(b"\r\n\r\n", 1)
	    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
	    while len(body) < n:
	        body += t.recv(65536)
	    return head.split(b"\r\n")[0], head, body
	c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
	old = serial(c)
	st, head, body = get(c, "/e/small")
	assert st.endswith(b"200 OK"), st
	shutil.copy(pki + "/chain2.pem", pki + "/chain.pem")
	shutil.copy(pki + "/srv2.key", pki + "/srv.key")
	log = os.path.dirname(os.path.dirname(pidfile)) + "/log/gateway.log"
	os.kill(int(open(pidfile).read()), signal.SIGHUP)
	for _ in range(100):
	    if "reload done" in open(log).read():
	        break
	    time.sleep(0.05)
	time.sleep(0.2)
	st2, head2, body2 = get(c, "/e/bytes?n=100000")
	assert st2.endswith(b"200 OK") and len(body2) == 100000, st2
	n = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
	new = serial(n)
	print("same-conn-ok", old != new)
	open(sys.argv[2] + "/seen-old.pem", "w").write(old)
	open(sys.argv[2] + "/seen-new.pem", "w").write(new)
	PY
	grep -q "same-conn-ok True" "$T/ka" &&
	expect_eq "$(openssl x509 -in "$PKI/seen-old.pem" -noout -serial | cut -d= -f2)" "$(cat "$T/serial1")" &&
	expect_eq "$(openssl x509 -in "$PKI/seen-new.pem" -noout -serial | cut -d= -f2)" "$(cat "$T/serial2")" &&
	wait_for loggrep gateway.log "reload done"
'

test_expect_success 'SIGHUP during a slow TLS download: it completes byte-exact' '
	curl -s --cacert "$PKI/ca.crt" --limit-rate 1000k --max-time 30 \
	    -o "$T/slow.bin" "$S/f/offload?path=big.bin&type=application/octet-stream" &
	cpid=$! &&
	sleep 1 &&
	kill -HUP "$(cat "$T/run/gateway.pid")" &&
	wait $cpid &&
	cmp "$M/big.bin" "$T/slow.bin" &&
	expect_eq "$(tcurl "$S/e/small")" 200
'

test_expect_success 'testssl.sh finds no weak protocol or cipher' '
	command -v testssl >/dev/null || { echo "testssl missing (Debian package testssl.sh)"; return 1; }
	start=$(date +%s) &&
	testssl --quiet --color 0 --warnings off --protocols --std \
	    --jsonfile "$T/testssl.json" "localhost:$TLS_PORT" >"$T/testssl.out" 2>&1
	echo "testssl took $(($(date +%s) - start)) s" >"$T/testssl.time" &&
	cat "$T/testssl.time" &&
	python3 - "$T/testssl.json" <<-PY
	import json, sys
	f = {e["id"]: e["finding"] for e in json.load(open(sys.argv[1]))}
	bad = []
	for k in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "cipherlist_NULL",
	          "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
	          "cipherlist_3DES_IDEA", "cipherlist_AVERAGE"):
	    if not f.get(k, "").startswith("not offered"):
	        bad.append("%s: %s" % (k, f.get(k)))
	for k in ("TLS1_2", "TLS1_3"):
	    if not f.get(k, "").startswith("offered"):
	        bad.append("%s: %s" % (k, f.get(k)))
	if not f.get("cipherlist_STRONG", "").startswith("offered"):
	    bad.append("cipherlist_STRONG: %s" % f.get("cipherlist_STRONG"))
	for e in json.load(open(sys.argv[1])):
	    if e["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
	        bad.append("%s (%s): %s" % (e["id"], e["severity"], e["finding"]))
	print("\n".join(bad) or "clean")
	sys.exit(1 if bad else 0)
	PY
'

test_done
