#!/bin/sh
# The runtime registry on the gateway side: leases.xml beside services.xml
# (written atomically, as elp-confd does) is picked up without a reload:
# a leased instance gets traffic within seconds (the master looks every
# 50 ms; the bound allows for a loaded machine), state="drain" and the
# admin drain stop new requests, an instance that leaves gets none, one
# killed with kill -9 and then removed costs no request; an invalid file
# is refused with file:line and the previous set stays. A load loop on
# the same service runs throughout and must see only 200s. GET
# /admin/status shows every instance.
. "$(dirname "$0")/lib.sh"

A=unix:$T/run/a.sock
B=unix:$T/run/b.sock
C=unix:$T/run/c.sock
ID_B=0123456789abcdef0123456789abcdef
ID_C=fedcba9876543210fedcba9876543210

# leases VERSION [ADDRESS ID STATE]...: writes conf/leases.xml atomically
# (temporary file, fsync, rename), for service echo.
leases() {
	python3 - "$T/conf/leases.xml" "$@" <<'PY'
import os, sys
path, ver, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
ins = ""
for i in range(0, len(rest), 3):
    ins += ('    <instance address="%s" maxconn="2" weight="1" '
            'lease-id="%s" expires="2030-01-01T00:00:00Z" state="%s"/>\n'
            % (rest[i], rest[i + 1], rest[i + 2]))
svc = '  <service name="echo">\n%s  </service>\n' % ins if ins else ""
doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<leases version="%s">\n'
       '%s</leases>\n' % (ver, svc))
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write(doc)
    f.flush()
    os.fsync(f.fileno())
os.rename(tmp, path)
PY
}

# status: GET /admin/status into $T/body.
status() {
	http GET "http://127.0.0.1:$ADMIN_PORT/admin/status" >/dev/null
}

# field ADDRESS KEY: KEY of echo instance ADDRESS in /admin/status ("none"
# when it is not listed).
field() {
	status && json "([i.get(\"$2\") for i in j[\"responseBody\"][\"services\"][\"echo\"] if i[\"address\"] == \"$1\"] + [\"none\"])[0]"
}

# is ADDRESS KEY VALUE: whether KEY of ADDRESS is VALUE now.
is() {
	expect_eq "$(field "$1" "$2")" "$3"
}

# served ADDRESS: requests the instance answered so far.
served() {
	field "$1" requests
}

# gets ADDRESS: whether ADDRESS took a request since $base.
gets() {
	[ "$(served "$1")" != none ] && [ "$(served "$1")" -gt "$base" ]
}

# quiet ADDRESS: no new request reaches ADDRESS for a second.
quiet() {
	q0=$(served "$1") && sleep 1 && expect_eq "$(served "$1")" "$q0"
}

# kill9 NAME: kill -9 the echo pool NAME and its workers.
kill9() {
	eval "p=\$pid_$1"
	kids=$(ps -o pid= --ppid "$p")
	# The master first: it would fork new workers.
	kill -9 "$p" &&
	for c in $kids; do
		kill -9 "$c" 2>/dev/null || :
	done
}

test_expect_success 'gateway with one static echo instance, no leases.xml' '
	echo_up a 2 && echo_up b 2 && echo_up c 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\">
    <health path=\"/health\" interval=\"500ms\" timeout=\"400ms\" rise=\"1\" fall=\"1\"/>
    <instance address=\"$A\" maxconn=\"2\"/>
  </service>" \
	GW_WORKERS=2 gateway_up &&
	expect_eq "$(field "$A" source)" static &&
	expect_eq "$(field "$B" source)" none
'

test_expect_success 'a load loop on the echo service runs' '
	spawn load python3 "$ROOT/t/helper/load.py" \
	    "http://127.0.0.1:$API_PORT/e/small" 600 4 --stats \
	    --stop-file "$T/stop" &&
	sleep 0.5
'

test_expect_success 'an instance added to leases.xml gets traffic within seconds' '
	base=0 &&
	leases 1 "$B" $ID_B up &&
	t0=$(date +%s%N) &&
	wait_for gets "$B" &&
	t1=$(date +%s%N) &&
	say "first request on the leased instance after $(( (t1 - t0) / 1000000 )) ms" &&
	[ $(( (t1 - t0) / 1000000 )) -lt 3000 ] &&
	expect_eq "$(field "$B" source)" leased &&
	expect_eq "$(field "$B" leaseId)" $ID_B &&
	expect_eq "$(field "$B" expires)" 2030-01-01T00:00:00Z &&
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/metrics" &&
	grep -q "^elp_instance_up{service=\"echo\",instance=\"$B\"} 1$" "$T/metrics" &&
	grep -q "^elp_instance_requests_total{service=\"echo\",instance=\"$B\",code=\"2xx\"} [1-9]" "$T/metrics"
'

test_expect_success 'state="drain" in leases.xml: no new requests' '
	leases 2 "$B" $ID_B drain &&
	wait_for is "$B" drain true &&
	sleep 0.5 && quiet "$B" &&
	expect_eq "$(field "$B" drain)" true
'

test_expect_success 'back to up: traffic again' '
	base=$(served "$B") &&
	leases 3 "$B" $ID_B up &&
	wait_for gets "$B"
'

test_expect_success 'admin drain of the static instance: no new requests to it' '
	code=$(http POST "http://127.0.0.1:$ADMIN_PORT/admin/instances/drain?service=echo&address=$A") &&
	expect_eq "$code" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"drain\"]")" true &&
	sleep 0.3 && quiet "$A" &&
	base=$(served "$B") && wait_for gets "$B" &&
	code=$(http POST "http://127.0.0.1:$ADMIN_PORT/admin/instances/undrain?service=echo&address=$A") &&
	expect_eq "$code" 200 &&
	base=$(served "$A") && wait_for gets "$A"
'

test_expect_success 'admin drain: unknown instance 404, GET 405, no query 400' '
	expect_eq "$(http POST "http://127.0.0.1:$ADMIN_PORT/admin/instances/drain?service=echo&address=unix:/nope")" 404 &&
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/admin/instances/drain?service=echo&address=$A")" 405 &&
	expect_eq "$(http POST "http://127.0.0.1:$ADMIN_PORT/admin/instances/drain")" 400 &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/admin/status")" 404
'

test_expect_success 'an instance removed from leases.xml leaves routing' '
	leases 4 &&
	wait_for is "$B" source none &&
	sleep 0.3 && b0=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | wc -l) &&
	[ "$b0" -gt 0 ]
'

test_expect_success 'a leased instance killed with kill -9, then removed: no failure' '
	base=0 &&
	leases 5 "$C" $ID_C up &&
	wait_for gets "$C" &&
	kill9 c &&
	wait_for is "$C" health down &&
	leases 6 &&
	wait_for is "$C" source none
'

test_expect_success 'an invalid leases.xml is refused with file:line, the set stays' '
	leases 7 "$B" $ID_B up && wait_for is "$B" source leased &&
	base=$(served "$B") && wait_for gets "$B" &&
	printf "<leases version=\"8\">\n  <service name=\"echo\">\n    <instance address=\"bogus\"/>\n  </service>\n</leases>\n" \
	    >"$T/conf/leases.xml.tmp" &&
	mv "$T/conf/leases.xml.tmp" "$T/conf/leases.xml" &&
	wait_for loggrep gateway.log "leases.xml:3: .*" &&
	loggrep gateway.log "leases.xml: refused, keeping the previous 1 leased" &&
	base=$(served "$B") && wait_for gets "$B" &&
	expect_eq "$(field "$B" source)" leased
'

test_expect_success 'a lease on a static address is ignored (the static wins)' '
	leases 9 "$A" $ID_C up "$B" $ID_B up &&
	wait_for loggrep gateway.log "version 9" &&
	status &&
	expect_eq "$(json "len([i for i in j[\"responseBody\"][\"services\"][\"echo\"] if i[\"address\"] == \"$A\"])")" 1 &&
	expect_eq "$(field "$A" source)" static
'

test_expect_success 'leases.xml deleted: no leased instance, static serves' '
	rm "$T/conf/leases.xml" &&
	wait_for is "$B" source none &&
	base=$(served "$A") && wait_for gets "$A"
'

test_expect_success '/admin/status: the fields elpctl reads' '
	leases 10 "$B" $ID_B drain && wait_for is "$B" drain true &&
	status &&
	expect_eq "$(json "sorted(j[\"responseBody\"].keys())")" \
	    "[\"configGeneration\", \"gateway\", \"leasesFile\", \"leasesVersion\", \"processes\", \"services\", \"version\", \"workers\"]" &&
	expect_eq "$(json "j[\"responseBody\"][\"workers\"]")" 2 &&
	expect_eq "$(json "j[\"responseBody\"][\"leasesVersion\"]")" 10 &&
	expect_eq "$(json "sorted(j[\"responseBody\"][\"services\"][\"echo\"][1].keys())")" \
	    "[\"address\", \"breaker\", \"connections\", \"drain\", \"expires\", \"health\", \"inFlight\", \"lastCheck\", \"leaseId\", \"leaseState\", \"maxconn\", \"requests\", \"source\", \"weight\"]" &&
	expect_eq "$(field "$A" breaker)" closed &&
	expect_eq "$(field "$A" health)" up
'

test_expect_success 'a reload keeps the leased instances' '
	leases 11 "$B" $ID_B up &&
	wait_for is "$B" drain false &&
	kill -HUP "$pid_gateway" &&
	wait_for loggrep gateway.log "reload done" &&
	base=$(served "$B") && wait_for gets "$B" &&
	expect_eq "$(field "$B" source)" leased
'

test_expect_success '<gateway leases=...>: leases.xml elsewhere, picked up at a reload' '
	mkdir -p "$T/state" &&
	sed -i "s|<gateway |<gateway leases=\"$T/state/leases.xml\" |" "$T/conf/gateway.xml" &&
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml" &&
	kill -HUP "$pid_gateway" &&
	wait_for is "$B" source none &&
	status && expect_eq "$(json "j[\"responseBody\"][\"leasesFile\"]")" "$T/state/leases.xml" &&
	leases 12 "$C" $ID_C up && mv "$T/conf/leases.xml" "$T/state/leases.xml" &&
	echo_up c 2 &&
	wait_for is "$C" source leased &&
	base=$(served "$C") && wait_for gets "$C"
'

test_expect_success 'the load loop saw only 200s' '
	touch "$T/stop" &&
	wait_for test -s "$T/log/load.log" &&
	wait_for grep -q "^errors=" "$T/log/load.log" &&
	cat "$T/log/load.log" &&
	loggrep load.log "^errors=0$" &&
	expect_eq "$(grep -E "^[0-9]{3}=" "$T/log/load.log" | grep -v "^200=" | wc -l)" 0
'

# The pool side: elp-course (its database down: it serves anyway) with
# <register>, against a scripted registry that records every call.
PEER_PORT=$(free_port)
R=$T/run/reg.sock
mkdir -p "$T/peer"

# calls METHOD: how many calls of METHOD the registry got.
calls() {
	grep -c " $1 /registry/course" "$T/log/peer.calls" 2>/dev/null || true
}

# calls_ge METHOD N: whether the registry got at least N calls of METHOD.
calls_ge() {
	[ "$(calls "$1")" -ge "$2" ]
}

# reg_conf EXTRA: conf/services/reg.xml with <register EXTRA>.
reg_conf() {
	mkdir -p "$T/conf/services" && echo pw >"$T/pw" && chmod 600 "$T/pw" &&
	cat >"$T/conf/services/reg.xml" <<XML
<service name="course">
  <log level="info"/>
  <pool listen="unix:$R" workers="2" mode="0660" drain="3s"/>
  <register service="course" $1/>
  <database socket="$T/nodb.sock" name="elp_course" user="elp_course"
            password-file="$T/pw" connect-timeout="1s" timeout="3s"/>
  <limits max-body="1m" max-page-size="1000"/>
  <auth jwks-url="http://127.0.0.1:1/certs" issuer="http://127.0.0.1:1/r"
        audience="elp-api"/>
</service>
XML
}

test_expect_success '-t checks <register>: timeout vs lease, token attributes together' '
	reg_conf "lease=\"3s\" url=\"http://127.0.0.1:$PEER_PORT/registry\" client-id=\"x\"" &&
	! "$BIN/elp-course" -t -c "$T/conf/services/reg.xml" 2>"$T/err" &&
	grep -q "reg.xml:4: register: token-url, client-id and secret-file go together" "$T/err" &&
	grep -q "reg.xml:4: register: timeout (2000 ms) must be shorter than a third of the lease" "$T/err" &&
	reg_conf "lease=\"3s\" timeout=\"500ms\" weight=\"2\" backoff-max=\"2s\" url=\"http://127.0.0.1:$PEER_PORT/registry\"" &&
	"$BIN/elp-course" -t -c "$T/conf/services/reg.xml"
'

test_expect_success 'registry down at start: the pool serves, registration retries' '
	touch "$T/peer/down" &&
	spawn peer python3 "$ROOT/t/helper/registry-peer.py" "$PEER_PORT" \
	    "$T/log/peer.calls" "$T/peer" "$R" &&
	wait_for curl -s "http://127.0.0.1:$PEER_PORT/" &&
	spawn reg "$BIN/elp-course" -c "$T/conf/services/reg.xml" &&
	wait_for test -S "$R" &&
	wait_for calls_ge POST 3 &&
	awk "/ POST /{ if (p) print \$1 - p; p = \$1 }" "$T/log/peer.calls" >"$T/gaps" &&
	say "gaps between tries: $(tr "\n" " " <"$T/gaps")" &&
	g1=$(sed -n 1p "$T/gaps") && g2=$(sed -n 2p "$T/gaps") &&
	[ "$g1" -ge 900 ] && [ "$g2" -ge 1800 ] &&
	loggrep reg.log "registering course: status 503; retrying"
'

test_expect_success 'registry back: POST with the pool address, maxconn, weight, lease' '
	rm "$T/peer/down" &&
	wait_for grep -q "registered, lease" "$T/log/reg.log" &&
	line=$(grep " POST " "$T/log/peer.calls" | tail -n 1) &&
	say "$line" &&
	body=${line#* sock=yes } &&
	expect_eq "$(echo "$body" | python3 -c "import json,sys; j=json.load(sys.stdin); print(j[\"address\"], j[\"maxconn\"], j[\"weight\"], j[\"lease\"])")" \
	    "unix:$R 2 2 3"
'

test_expect_success 'renewal with PUT at about a third of the lease' '
	n=$(calls PUT) &&
	wait_for calls_ge PUT $((n + 2)) &&
	grep -E " (POST|PUT) " "$T/log/peer.calls" | tail -n 3 |
	    awk "{ if (p) print \$1 - p; p = \$1 }" >"$T/gaps" &&
	say "renewal gaps: $(tr "\n" " " <"$T/gaps")" &&
	for g in $(cat "$T/gaps"); do
		[ "$g" -ge 900 ] && [ "$g" -le 1500 ] || return 1
	done &&
	id=$(grep " PUT " "$T/log/peer.calls" | tail -n 1 | awk "{ print \$3 }") &&
	case $id in /registry/course/????????????????????????????????) ;; *) false ;; esac
'

test_expect_success 'a renewal answered 404 registers again with POST' '
	p=$(calls POST) &&
	touch "$T/peer/forget" &&
	wait_for calls_ge POST $((p + 1)) &&
	loggrep reg.log "unknown \(404\), registering again" &&
	tail -n 2 "$T/log/peer.calls" | head -n 1 | grep -q " PUT " &&
	n=$(calls PUT) && wait_for calls_ge PUT $((n + 1))
'

test_expect_success 'SIGTERM: DELETE of the lease before the drain starts' '
	id=$(grep " PUT " "$T/log/peer.calls" | tail -n 1 | awk "{ print \$3 }") &&
	stop_pid "$pid_reg" &&
	del=$(grep " DELETE " "$T/log/peer.calls") &&
	say "$del" &&
	expect_eq "$(echo "$del" | awk "{ print \$3, \$5 }")" "$id sock=yes" &&
	r=$(grep -n "registrar stopped" "$T/log/reg.log" | cut -d: -f1) &&
	d=$(grep -n "draining workers" "$T/log/reg.log" | cut -d: -f1) &&
	[ "$r" -lt "$d" ] &&
	loggrep reg.log "lease [0-9a-f]* deregistered"
'

test_done
