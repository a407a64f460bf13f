#!/bin/sh
# Operating the gateway: -t checks, SIGHUP reload under load with no
# failed request, an invalid config refused on SIGHUP while serving goes
# on, SIGUSR1 log reopening, SIGTERM draining in-flight requests, and
# workers running without root.
. "$(dirname "$0")/lib.sh"

routes_a="  <route listen=\"api\" prefix=\"/a\" service=\"echo\" rewrite=\"/\"/>"
routes_b="  <route listen=\"api\" prefix=\"/b\" service=\"echo\" rewrite=\"/\"/>
$routes_a"
INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>"
SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"4\"/></service>"

test_expect_success 'start fcgi-echo and the gateway' '
	echo_up echo 4 &&
	ROUTES=$routes_a gateway_up &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/a/small")" 200
'
A=http://127.0.0.1:$API_PORT

test_expect_success '-t accepts a valid file and refuses a broken one with file:line' '
	"$BIN/elp-gateway" -t -c "$T/conf/gateway.xml" &&
	sed "s/<timeouts /<timeouts bogus=\"1\" /" "$T/conf/gateway.xml" >"$T/conf/bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/bad.xml" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*: .*bogus" "$T/t.err"
'

test_expect_success 'SIGHUP with a new route under load loses no request' '
	python3 "$ROOT/t/helper/load.py" "$A/a/small" 4 4 >"$T/load1" &
	lp=$! &&
	sleep 1 &&
	ROUTES=$routes_b gateway_conf &&
	kill -HUP $(cat "$T/run/gateway.pid") &&
	sleep 1 &&
	expect_eq "$(http GET "$A/b/small")" 200 &&
	wait $lp &&
	cat "$T/load1" &&
	grep -q "^errors=0$" "$T/load1" &&
	! grep -v "^200=\|^total=\|^errors=" "$T/load1" | grep -q . &&
	[ "$(sed -n "s/^200=//p" "$T/load1")" -gt 50 ]
'

test_expect_success 'an invalid config on SIGHUP is refused and the old one keeps serving' '
	cp "$T/conf/gateway.xml" "$T/conf/good.xml" &&
	printf "<gateway><listen name=\"api\"" >"$T/conf/gateway.xml" &&
	kill -HUP $(cat "$T/run/gateway.pid") &&
	sleep 1 &&
	loggrep gateway.log "reload refused" &&
	expect_eq "$(http GET "$A/b/small")" 200 &&
	expect_eq "$(http GET "$A/a/small")" 200 &&
	cp "$T/conf/good.xml" "$T/conf/gateway.xml"
'

test_expect_success 'SIGUSR1 reopens the logs after rotation' '
	mv "$T/log/access.log" "$T/log/access.log.1" &&
	kill -USR1 $(cat "$T/run/gateway.pid") &&
	sleep 0.5 &&
	http GET "$A/a/small" -H "X-Request-Id: after-rotate" >/dev/null &&
	sleep 0.3 &&
	loggrep access.log "rid=after-rotate"
'

test_expect_success 'SIGTERM lets an in-flight request finish, then the gateway exits' '
	http GET "$A/a/sleep?ms=1500" >"$T/slow.code" &
	cp=$! &&
	sleep 0.5 &&
	kill -TERM $(cat "$T/run/gateway.pid") &&
	wait $cp &&
	expect_eq "$(cat "$T/slow.code")" 200 &&
	i=0; while kill -0 $pid_gateway 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1; done &&
	! kill -0 $pid_gateway 2>/dev/null &&
	[ ! -e "$T/run/gateway.pid" ]
'

test_expect_success 'with user= the workers run without root' '
	sed "s/<gateway /<gateway user=\"nobody\" /" "$T/conf/good.xml" >"$T/conf/gateway.xml" &&
	spawn gateway2 "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	kids=$(cat /proc/$pid_gateway2/task/*/children) &&
	[ -n "$kids" ] &&
	bad=0 &&
	for k in $kids; do
		grep -q "^Uid:[[:space:]]*65534[[:space:]]65534[[:space:]]65534" /proc/$k/status || bad=1
	done &&
	expect_eq $bad 0 &&
	grep -q "^Uid:[[:space:]]*0[[:space:]]" /proc/$pid_gateway2/status
'

test_done
