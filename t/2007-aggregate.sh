#!/bin/sh
# Aggregate routes: one GET fans out in parallel to its parts over the
# backend machinery and the answers are merged into one envelope; per-part
# timeouts, the fail and null policies, the token and request id passed
# on, {param} validation, the size bound of a part's answer, a client that
# leaves mid-aggregate, the access log and /metrics, and elp-gateway -t.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'
E=echo

token() {	# token EMAIL: an access token from the password grant
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# jeq EXPR VALUE [EXPR VALUE...]: like expect_eq "$(json EXPR)" VALUE for
# each pair, in one python run.
jeq() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
a, bad = sys.argv[2:], 0
for e, want in zip(a[0::2], a[1::2]):
    v = eval(e)
    got = json.dumps(v) if not isinstance(v, str) else v
    if got != want:
        print("%s: expected [%s], got [%s]" % (e, want, got))
        bad = 1
sys.exit(bad)' "$T/body" "$@"
}

# ms CMD...: runs CMD, prints its wall time in ms on stderr-free stdout.
ms() {
	python3 -c 'import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
print(int((time.monotonic() - t) * 1000))' "$@"
}

AGGS="
  <aggregate listen='api' path='/agg/merge/{id}' timeout='3s'>
    <part name='small' service='$E' path='/small'/>
    <part name='uri' service='$E' path='/param?name=REQUEST_URI&amp;x={id}'/>
    <part name='rid' service='$E' path='/param?name=HTTP_X_REQUEST_ID'/>
    <part name='reqid' service='$E' path='/param?name=REQUEST_ID'/>
    <part name='authz' service='$E' path='/param?name=HTTP_AUTHORIZATION'/>
    <part name='who' service='$E' path='/whoami' when='token' on-error='null'/>
  </aggregate>
  <aggregate listen='api' path='/agg/par'>
    <part name='a' service='$E' path='/sleep?ms=200'/>
    <part name='b' service='$E' path='/sleep?ms=300'/>
    <part name='c' service='$E' path='/sleep?ms=400'/>
  </aggregate>
  <aggregate listen='api' path='/agg/slow' timeout='3s'>
    <part name='slow' service='$E' path='/sleep?ms=2500' timeout='300ms' on-error='null'/>
    <part name='fast' service='$E' path='/small'/>
  </aggregate>
  <aggregate listen='api' path='/agg/slowfail' timeout='3s'>
    <part name='slow' service='$E' path='/sleep?ms=2500' timeout='300ms' on-error='fail'/>
    <part name='fast' service='$E' path='/small'/>
  </aggregate>
  <aggregate listen='api' path='/agg/fail'>
    <part name='bad' service='$E' path='/fail?status=404' on-error='fail'/>
    <part name='long' service='$E' path='/sleep?ms=1500'/>
  </aggregate>
  <aggregate listen='api' path='/agg/null'>
    <part name='bad' service='$E' path='/fail?status=503' on-error='null'/>
    <part name='down' service='dead' path='/small' on-error='null'/>
    <part name='fast' service='$E' path='/small'/>
  </aggregate>
  <aggregate listen='api' path='/agg/big' max-size='64k'>
    <part name='big' service='$E' path='/bytes?n=100000' on-error='null'/>
    <part name='fine' service='$E' path='/bytes?n=1000' max-size='2k' on-error='null'/>
  </aggregate>
  <aggregate listen='api' path='/agg/bigfail'>
    <part name='big' service='$E' path='/bytes?n=100000' max-size='10k'/>
  </aggregate>
  <aggregate listen='api' path='/agg/me/{x}' token='required'>
    <part name='sub' service='$E' path='/param?name=REQUEST_URI&amp;s={sub}&amp;x={x}'/>
    <part name='who' service='$E' path='/whoami'/>
  </aggregate>
  <aggregate listen='api' path='/agg/anon' token='none'>
    <part name='authz' service='$E' path='/param?name=HTTP_AUTHORIZATION'/>
  </aggregate>"

test_expect_success 'start MariaDB, elp-auth, fcgi-echo and a gateway with aggregates' '
	db_up && auth_up && echo_up echo 6 &&
	ROUTES="$ROUTES$AGGS" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"echo\"><health enabled=\"no\"/><instance address=\"unix:$T/run/echo.sock\" maxconn=\"6\"/></service>
  <service name=\"dead\"><health enabled=\"no\"/><instance address=\"unix:$T/run/dead.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\" leeway=\"0s\"/>" \
	gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email user@example.com --first T --last U \
	    --role USER >"$T/user.id"
'
A=http://127.0.0.1:$API_PORT

test_expect_success 'parts merged under their names in one envelope' '
	expect_eq "$(http GET "$A/agg/merge/c-1.x_y~z" -H "X-Request-Id: agg-rid-1")" 200 &&
	jeq \
	    "j[\"httpStatus\"]" OK \
	    "j[\"responseBody\"][\"small\"][\"message\"]" hello \
	    "j[\"responseBody\"][\"uri\"][\"value\"]" "/param?name=REQUEST_URI&x=c-1.x_y~z" \
	    "\"errors\" in j" false &&
	grep -qi "^content-type: application/json" "$T/headers"
'

test_expect_success 'the request id reaches every part; no token, no Authorization' '
	jeq \
	    "j[\"responseBody\"][\"rid\"][\"value\"]" agg-rid-1 \
	    "j[\"responseBody\"][\"reqid\"][\"value\"]" agg-rid-1 &&
	grep -qi "^x-request-id: agg-rid-1" "$T/headers" &&
	jeq \
	    "j[\"responseBody\"][\"authz\"][\"value\"]" null \
	    "j[\"responseBody\"][\"who\"]" null
'

test_expect_success 'with a token: Authorization and AUTH_* reach the parts, when=token runs' '
	t=$(token user@example.com) && [ -n "$t" ] &&
	expect_eq "$(http GET "$A/agg/merge/7" -H "Authorization: Bearer $t")" 200 &&
	jeq \
	    "j[\"responseBody\"][\"authz\"][\"value\"]" "Bearer $t" \
	    "j[\"responseBody\"][\"who\"][\"AUTH_SUB\"]" "$(cat "$T/user.id")"
'

test_expect_success 'a bad token on an optional aggregate is ignored (like a public route)' '
	expect_eq "$(http GET "$A/agg/merge/7" -H "Authorization: Bearer not.a.token")" 200 &&
	jeq \
	    "j[\"responseBody\"][\"authz\"][\"value\"]" null \
	    "j[\"responseBody\"][\"who\"]" null
'

test_expect_success 'token=required: 401 envelope without a token, {sub} substituted with one' '
	expect_eq "$(http GET "$A/agg/me/q")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 401 &&
	grep -qi "^www-authenticate: Bearer" "$T/headers" &&
	t=$(token user@example.com) &&
	expect_eq "$(http GET "$A/agg/me/q" -H "Authorization: Bearer $t")" 200 &&
	jeq \
	    "j[\"responseBody\"][\"sub\"][\"value\"]" "/param?name=REQUEST_URI&s=$(cat "$T/user.id")&x=q" \
	    "j[\"responseBody\"][\"who\"][\"AUTH_SUB\"]" "$(cat "$T/user.id")"
'

test_expect_success 'token=none: the token is neither checked nor passed on' '
	expect_eq "$(http GET "$A/agg/anon" -H "Authorization: Bearer not.a.token")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"authz\"][\"value\"]")" null
'

test_expect_success 'parts run in parallel: 200+300+400 ms take about 400 ms' '
	http GET "$A/agg/par" >/dev/null &&
	d=$(ms curl -sf -o /dev/null "$A/agg/par") && echo "took $d ms" &&
	[ "$d" -ge 390 ] && [ "$d" -lt 800 ] &&
	expect_eq "$(http GET "$A/agg/par")" 200 &&
	expect_eq "$(json "sorted(j[\"responseBody\"])")" "[\"a\", \"b\", \"c\"]"
'

test_expect_success 'per-part timeout, on-error=null: the key is null, errors names it (504)' '
	d=$(ms curl -s -o "$T/body" "$A/agg/slow") && echo "took $d ms" &&
	[ "$d" -lt 1500 ] &&
	jeq \
	    "j[\"responseBody\"][\"slow\"]" null \
	    "j[\"responseBody\"][\"fast\"][\"message\"]" hello \
	    "j[\"errors\"][\"slow\"][\"status\"]" 504 \
	    "j[\"errors\"][\"slow\"][\"outcome\"]" timeout
'

test_expect_success 'per-part timeout, on-error=fail: the whole answer is a 504 envelope' '
	expect_eq "$(http GET "$A/agg/slowfail")" 504 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 504
'

test_expect_success 'on-error=fail: the part status and errorBody, at once (others stopped)' '
	d=$(ms curl -s -o "$T/body" "$A/agg/fail") && echo "took $d ms" &&
	[ "$d" -lt 1000 ] &&
	expect_eq "$(http GET "$A/agg/fail")" 404 &&
	jeq \
	    "j[\"errorBody\"][\"errorCode\"]" 404 \
	    "j[\"errorBody\"][\"errorMessage\"]" "failing on purpose"
'

test_expect_success 'on-error=null: failed parts are null and listed with status and message' '
	expect_eq "$(http GET "$A/agg/null")" 200 &&
	jeq \
	    "j[\"responseBody\"][\"bad\"]" null \
	    "j[\"responseBody\"][\"down\"]" null \
	    "j[\"responseBody\"][\"fast\"][\"message\"]" hello \
	    "j[\"errors\"][\"bad\"][\"status\"]" 503 \
	    "j[\"errors\"][\"bad\"][\"message\"]" "failing on purpose" \
	    "j[\"errors\"][\"down\"][\"status\"]" 503 \
	    "j[\"errors\"][\"down\"][\"outcome\"]" unavailable
'

test_expect_success 'an answer over max-size fails its part with 502; a non-JSON one too' '
	expect_eq "$(http GET "$A/agg/big")" 200 &&
	jeq \
	    "j[\"errors\"][\"big\"][\"status\"]" 502 \
	    "j[\"errors\"][\"big\"][\"outcome\"]" too_large \
	    "j[\"errors\"][\"fine\"][\"status\"]" 502 \
	    "j[\"errors\"][\"fine\"][\"outcome\"]" broken &&
	expect_eq "$(http GET "$A/agg/bigfail")" 502 &&
	json "j[\"errorBody\"][\"errorMessage\"]" | grep -q "larger than 10240 bytes"
'

test_expect_success 'path parameters: unsafe characters get a 400 envelope' '
	expect_eq "$(http GET "$A/agg/merge/a%2e")" 400 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Invalid path parameter" &&
	expect_eq "$(http GET "$A/agg/merge/a;b")" 400 &&
	expect_eq "$(http GET "$A/agg/merge/.." --path-as-is)" 400 &&
	expect_eq "$(http GET "$A/agg/merge/a/b")" 404 &&
	expect_eq "$(http POST "$A/agg/merge/a")" 405
'

# leave RID: a client that sends GET /agg/par and closes after 100 ms.
leave() {
	python3 -c "import socket, sys, time
s = socket.create_connection((\"127.0.0.1\", int(sys.argv[1])))
s.sendall(b\"GET /agg/par HTTP/1.1\\r\\nHost: x\\r\\nX-Request-Id: \" +
          sys.argv[2].encode() + b\"\\r\\n\\r\\n\")
time.sleep(0.1)
s.close()" "$API_PORT" "$1"
}

test_expect_success 'a client that leaves mid-aggregate: 499, its parts stopped, slots back' '
	leave agg-gone-1 && leave agg-gone-2 && leave agg-gone-3 &&
	wait_for grep -q "rid=agg-gone-3" "$T/log/access.log" &&
	grep "rid=agg-gone-1" "$T/log/access.log" | grep -q "\" 499 " &&
	loggrep gateway.log "rid=agg-gone-2: aggregate /agg/par: ended before its parts, 3 stopped" &&
	d=$(ms curl -sf -o /dev/null "$A/agg/par") && echo "took $d ms" &&
	[ "$d" -lt 1500 ] && expect_eq "$(http GET "$A/agg/par")" 200
'

test_expect_success 'access log: one line per aggregate with parts and the slowest part' '
	grep "GET /agg/par " "$T/log/access.log" | grep " 200 " |
	    grep -q "agg=/agg/par parts=3 slowest=0\.[34]"
'

test_expect_success '/metrics: per aggregate and per part outcome' '
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/metrics" &&
	grep -q "^elp_aggregate_requests_total{listener=\"api\",aggregate=\"/agg/par\",code=\"2xx\"} [1-9]" "$T/metrics" &&
	grep -q "^elp_aggregate_requests_total{listener=\"api\",aggregate=\"/agg/par\",code=\"4xx\"} 3$" "$T/metrics" &&
	grep -q "^elp_aggregate_parts_total{listener=\"api\",aggregate=\"/agg/slow\",part=\"slow\",outcome=\"timeout\"} 1$" "$T/metrics" &&
	grep -q "^elp_aggregate_parts_total{listener=\"api\",aggregate=\"/agg/null\",part=\"down\",outcome=\"unavailable\"} 1$" "$T/metrics" &&
	grep -q "^elp_aggregate_parts_total{listener=\"api\",aggregate=\"/agg/merge/{id}\",part=\"who\",outcome=\"skipped\"} [1-9]" "$T/metrics"
'

# bad_conf NAME AGGREGATE-XML: a copy of the gateway config with it added.
bad_conf() {
	sed "s|</gateway>|$2\n</gateway>|" "$T/conf/gateway.xml" >"$T/conf/$1.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/$1.xml" >"$T/$1.out" 2>&1
}

test_expect_success 'elp-gateway -t: the shipped test config passes' '
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml"
'

test_expect_success 'elp-gateway -t: unknown service, with file:line' '
	bad_conf c1 "<aggregate listen=\"api\" path=\"/x\"><part name=\"a\" service=\"nope\" path=\"/small\"/></aggregate>" &&
	grep -E "c1\.xml:[0-9]+: part a: service \"nope\" is not in the registry" "$T/c1.out"
'

test_expect_success 'elp-gateway -t: duplicate part, unknown {param}, bad paths, {sub} without token' '
	bad_conf c2 "<aggregate listen=\"api\" path=\"/x/{id}\"><part name=\"a\" service=\"echo\" path=\"/s\"/><part name=\"a\" service=\"echo\" path=\"/t/{idd}\"/></aggregate>" &&
	grep -E "c2\.xml:[0-9]+: aggregate /x/\{id\}: part a defined twice" "$T/c2.out" &&
	grep -E "c2\.xml:[0-9]+: part a: unknown parameter \{idd\}" "$T/c2.out" &&
	bad_conf c3 "<aggregate listen=\"api\" path=\"x\"><part name=\"a\" service=\"echo\" path=\"/s\"/></aggregate>" &&
	grep -E "c3\.xml:[0-9]+: aggregate path \"x\" must start with /" "$T/c3.out" &&
	bad_conf c4 "<aggregate listen=\"api\" path=\"/y\"><part name=\"a\" service=\"echo\" path=\"s\"/></aggregate>" &&
	grep -E "c4\.xml:[0-9]+: part a: path \"s\" must start with /" "$T/c4.out" &&
	bad_conf c5 "<aggregate listen=\"api\" path=\"/y\"><part name=\"a\" service=\"echo\" path=\"/u/{sub}\"/></aggregate>" &&
	grep -E "c5\.xml:[0-9]+: part a: \{sub\} needs" "$T/c5.out" &&
	bad_conf c6 "<aggregate listen=\"idp\" path=\"/realms/e-learning-platform/x\"><part name=\"a\" service=\"echo\" path=\"/s\"/></aggregate>" &&
	grep -E "c6\.xml:[0-9]+: aggregate /realms/e-learning-platform/x: hidden by a route" "$T/c6.out" &&
	bad_conf c7 "<aggregate listen=\"nol\" path=\"/z\"><part name=\"a\" service=\"echo\" path=\"/s\" timeout=\"9s\"/></aggregate>" &&
	grep -E "c7\.xml:[0-9]+: aggregate /z: no listener named \"nol\"" "$T/c7.out"
'

test_done
