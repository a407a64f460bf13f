#!/bin/sh
# elpctl, each command against the real gateway and a real pool:
# status (the table of /admin/status), check (every file, every error at
# once, exit 1), reload (pidfiles: the gateway and the pool reload),
# registry list/drain/remove (static ones through the gateway's admin
# API, leased ones through the registry with a client-credentials token;
# the registry is the scripted peer of t/helper until elp-confd is in),
# errors (error lines of the logs), and the usage exit status.
. "$(dirname "$0")/lib.sh"

CTL=$ROOT/scripts/elpctl
A=unix:$T/run/a.sock
B=unix:$T/run/b.sock
ID_B=0123456789abcdef0123456789abcdef
PEER_PORT=$(free_port)
mkdir -p "$T/peer" "$T/conf/services"
printf 's3cret\n' >"$T/secret" && chmod 600 "$T/secret"
printf 'pw\n' >"$T/pw" && chmod 600 "$T/pw"

# ctl ARGS...: elpctl on this test's configuration; stdout to $T/out,
# stderr to $T/err.
ctl() {
	ELP_LOG_DIR=$T/log "$CTL" -c "$T/conf" -b "$BIN" "$@" >"$T/out" 2>"$T/err"
}

# course_xml FILE SOCKET: a configuration of elp-course (its database is
# not needed for these commands).
course_xml() {
	cat >"$1" <<XML
<service name="course">
  <log level="info"/>
  <pool listen="unix:$2" workers="1" mode="0660" drain="2s"
        pidfile="$T/run/course.pid"/>
  <database socket="$T/nodb.sock" name="elp_course" user="elp_course"
            password-file="$T/pw" connect-timeout="1s" timeout="3s"/>
  <limits max-body="1m" max-page-size="1000"/>
  <auth jwks-url="http://127.0.0.1:1/certs" issuer="http://127.0.0.1:1/r"
        audience="elp-api"/>
</service>
XML
}

# drained ADDRESS: whether /admin/status says ADDRESS is drained.
drained() {
	ctl status && grep -E "^echo +$1 .* yes " "$T/out" >/dev/null
}

test_expect_success 'gateway (static a, leased b), a pool, the registry peer' '
	echo_up a 2 && echo_up b 2 &&
	cat >"$T/conf/leases.xml" <<XML &&
<leases version="1">
  <service name="echo">
    <instance address="$B" maxconn="2" weight="1" lease-id="$ID_B"
              expires="2030-01-01T00:00:00Z" state="up"/>
  </service>
</leases>
XML
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\">
    <instance address=\"$A\" maxconn=\"2\"/>
  </service>" \
	gateway_up &&
	course_xml "$T/conf/services/course.xml" "$T/run/course.sock" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	spawn peer python3 "$ROOT/t/helper/registry-peer.py" "$PEER_PORT" \
	    "$T/log/peer.calls" "$T/peer" &&
	wait_for curl -s "http://127.0.0.1:$PEER_PORT/"
'

test_expect_success 'status: one line per instance, static and leased' '
	ctl status && cat "$T/out" &&
	grep -q "^elp-gateway .*configuration generation 0, 2 workers, leases.xml version 1" "$T/out" &&
	grep -E -q "^echo +$A +static +up +closed +0 +0 +no +-" "$T/out" &&
	grep -E -q "^echo +$B +leased +up +closed +[0-9]+ +0 +no +2030-01-01T00:00:00Z $ID_B" "$T/out" &&
	grep -E -q "^course +unix:$T/run/course.sock +static" "$T/out"
'

test_expect_success 'status: the admin URL from gateway.xml, or -a; unreachable fails' '
	ctl -a "http://127.0.0.1:$ADMIN_PORT" status &&
	! ctl -a "http://127.0.0.1:1" status &&
	grep -q "cannot reach" "$T/err"
'

test_expect_success 'check: every file valid' '
	ctl check && cat "$T/out" &&
	grep -q "^ok      $T/conf/gateway.xml" "$T/out" &&
	grep -q "^ok      $T/conf/services/course.xml" "$T/out" &&
	grep -q "^2 file(s) checked, 0 refused" "$T/out"
'

test_expect_success 'check: every error of every file at once, exit 1' '
	mkdir -p "$T/bad/services" && ln -s "$ROOT/conf/schema" "$T/bad/schema" &&
	sed "s/workers=\"2\"/workers=\"zero\"/" "$T/conf/gateway.xml" >"$T/bad/gateway.xml" &&
	cp "$T/conf/services.xml" "$T/bad/services.xml" &&
	course_xml "$T/bad/services/course.xml" "$T/run/x.sock" &&
	sed -i "s/workers=\"1\"/workers=\"0\"/" "$T/bad/services/course.xml" &&
	course_xml "$T/bad/services/other.xml" "$T/run/y.sock" &&
	sed -i "s/max-body=\"1m\"/max-body=\"lots\"/" "$T/bad/services/other.xml" &&
	! ELP_LOG_DIR=$T/log "$CTL" -c "$T/bad" -b "$BIN" check >"$T/out" 2>"$T/err" &&
	cat "$T/out" &&
	grep -q "^FAILED  $T/bad/gateway.xml" "$T/out" &&
	grep -q "gateway.xml:2: .*zero" "$T/out" &&
	grep -q "^FAILED  $T/bad/services/course.xml" "$T/out" &&
	grep -q "course.xml:4: .*workers" "$T/out" &&
	grep -q "^FAILED  $T/bad/services/other.xml" "$T/out" &&
	grep -q "other.xml:7: .*lots" "$T/out" &&
	grep -q "^3 file(s) checked, 3 refused" "$T/out"
'

test_expect_success 'reload: SIGHUP to the gateway and the pool through their pidfiles' '
	ctl reload && cat "$T/out" &&
	grep -q "^gateway: SIGHUP sent to $pid_gateway" "$T/out" &&
	grep -q "^course: SIGHUP sent to $pid_course" "$T/out" &&
	wait_for loggrep gateway.log "reload done" &&
	wait_for loggrep course.log "reloaded: 1 new workers" &&
	wait_for ctl status && grep -q "configuration generation 1" "$T/out"
'

test_expect_success 'registry list: the registry through -r' '
	ELP_LOG_DIR=$T/log "$CTL" -c "$T/conf" -r "http://127.0.0.1:$PEER_PORT/registry" registry list >"$T/out" &&
	grep -q "^SERVICE" "$T/out" &&
	curl -s -X POST -d "{\"address\":\"127.0.0.1:9999\",\"lease\":30}" \
	    "http://127.0.0.1:$PEER_PORT/registry/echo" >/dev/null &&
	ELP_LOG_DIR=$T/log "$CTL" -c "$T/conf" -r "http://127.0.0.1:$PEER_PORT/registry" registry list >"$T/out" &&
	cat "$T/out" &&
	grep -E -q "^echo +127.0.0.1:9999 +leased +up +[0-9a-f]{32} +2030-01-01T00:00:00Z" "$T/out"
'

test_expect_success 'registry drain of a static instance: the gateway admin API' '
	ctl registry drain echo "$A" && cat "$T/out" &&
	grep -q "draining (static" "$T/out" &&
	drained "$A" &&
	curl -s -X POST "http://127.0.0.1:$ADMIN_PORT/admin/instances/undrain?service=echo&address=$A" >/dev/null
'

test_expect_success 'registry drain of a leased instance: POST .../drain with a token' '
	ctl -r "http://127.0.0.1:$PEER_PORT/registry" \
	    -T "http://127.0.0.1:$PEER_PORT/token" -i elpctl -s "$T/secret" \
	    registry drain echo "$B" && cat "$T/out" &&
	grep -q "POST /registry/echo/$ID_B/drain auth=Bearer_tok-elpctl" "$T/log/peer.calls" &&
	grep -q "POST /token auth=- sock=no grant_type=client_credentials&client_id=elpctl&client_secret=s3cret$" "$T/log/peer.calls"
'

test_expect_success 'registry drain: a bad secret gives no token, nothing is sent' '
	printf "wrong\n" >"$T/bad.secret" && chmod 600 "$T/bad.secret" &&
	n=$(wc -l <"$T/log/peer.calls") &&
	! ctl -r "http://127.0.0.1:$PEER_PORT/registry" \
	    -T "http://127.0.0.1:$PEER_PORT/token" -i elpctl -s "$T/bad.secret" \
	    registry drain echo "$B" &&
	grep -q "no token" "$T/err" &&
	expect_eq "$(grep -c /drain "$T/log/peer.calls")" 1 &&
	[ "$(wc -l <"$T/log/peer.calls")" -eq $((n + 1)) ]
'

test_expect_success 'registry remove of a static instance is refused: edit services.xml' '
	! ctl registry remove echo "$A" &&
	grep -q "static instance: remove it from .*services.xml" "$T/err"
'

test_expect_success 'registry remove of a leased instance: DELETE of its lease' '
	ctl -r "http://127.0.0.1:$PEER_PORT/registry" registry remove echo "$B" &&
	grep -q "removed (lease $ID_B)" "$T/out" &&
	grep -q "DELETE /registry/echo/$ID_B " "$T/log/peer.calls"
'

test_expect_success 'registry drain/remove of an unknown instance fails' '
	! ctl registry drain echo unix:/nowhere &&
	grep -q "no instance unix:/nowhere in service echo" "$T/err" &&
	! ctl registry remove nosuch "$A"
'

test_expect_success 'errors: the error lines of the logs' '
	printf "<leases version=\"2\"><bogus/></leases>\n" >"$T/conf/leases.xml" &&
	wait_for loggrep gateway.log "leases.xml: refused" &&
	ctl errors 5 && cat "$T/out" &&
	grep -q "^gateway.log: .* error: .*leases.xml:1: " "$T/out" &&
	! grep -q " info: " "$T/out" &&
	[ "$(grep -c "^gateway.log: " "$T/out")" -le 5 ]
'

test_expect_success 'usage: exit 2' '
	ctl; expect_eq $? 2 &&
	ctl frobnicate; expect_eq $? 2 &&
	ctl registry drain echo; expect_eq $? 2
'

test_done
