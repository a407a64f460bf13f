#!/bin/sh
# The pool's process manager (shared/pool.c, php-fpm's pm), on three
# fcgi-echo pools behind a real gateway:
#  - dynamic (max-children 6, start-servers 1, spares 1..2, slow-log 1s;
#    the gateway closes backend connections idle for 1 s):
#    one worker at start; a burst of slow requests gets a new worker within
#    100 ms of the request that left no worker idle (start times from the
#    scoreboard); the status page counts the active workers, the accepted
#    and served requests the test sent, the slow requests; each slow one is
#    logged once with its request id; idle workers are reaped back to
#    max-spare; the status path answers on the admin route only;
#  - ondemand (max-children 3, idle-timeout 1s): no worker at start, one
#    for the first connection, none again after the idle timeout;
#  - static with max-requests 3: the worker is replaced (a new PID) after
#    3 requests and no request fails;
#  - dynamic with one spare under the gateway's health checks every
#    100 ms (a fresh connection each, held for a millisecond): the same
#    worker serves them all, none is started for a check and retired a
#    second later.
. "$(dirname "$0")/lib.sh"

# children PID: how many processes PID has forked and not reaped.
children() {
	ps --ppid "$1" -o pid= | wc -l
}

# status NAME [QUERY]: GET /status/NAME on the admin listener into $T/body.
status() {
	[ "$(http GET "http://127.0.0.1:$ADMIN_PORT/status/$1${2:-}")" = 200 ]
}

# until_n SECONDS CMD...: retries CMD every 0.1 s for SECONDS.
until_n() {
	n=$(($1 * 10))
	shift
	until "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ $n -gt 0 ] || return 1
		sleep 0.1
	done
}

children_le() {
	[ "$(children "$1")" -le "$2" ]
}

test_expect_success 'start dynamic, ondemand and recycling pools and a gateway' '
	spawn dyn "$HELPERS/fcgi-echo" -l "unix:$T/run/dyn.sock" -p dynamic \
	    -M 6 -s 1 -n 1 -x 2 -S 1000 &&
	spawn od "$HELPERS/fcgi-echo" -l "unix:$T/run/od.sock" -p ondemand \
	    -M 3 -i 1000 &&
	spawn rec "$HELPERS/fcgi-echo" -l "unix:$T/run/rec.sock" -w 1 -r 3 &&
	spawn hck "$HELPERS/fcgi-echo" -l "unix:$T/run/hck.sock" -p dynamic \
	    -M 3 -s 1 -n 1 -x 1 &&
	wait_for test -S "$T/run/hck.sock" &&
	wait_for test -S "$T/run/dyn.sock" &&
	wait_for test -S "$T/run/od.sock" &&
	wait_for test -S "$T/run/rec.sock" &&
	r="" && for s in dyn od rec hck; do
		r="$r
  <route listen=\"api\" prefix=\"/$s\" service=\"$s\" rewrite=\"/\"/>
  <route listen=\"admin\" prefix=\"/status/$s\" service=\"$s\" rewrite=\"/pool-status\"/>"
	done &&
	ROUTES="$r" \
	SERVICES_EXTRA="  <service name=\"dyn\"><health enabled=\"no\"/><instance address=\"unix:$T/run/dyn.sock\" maxconn=\"6\"/></service>
  <service name=\"od\"><health enabled=\"no\"/><instance address=\"unix:$T/run/od.sock\" maxconn=\"3\"/></service>
  <service name=\"rec\"><health enabled=\"no\"/><instance address=\"unix:$T/run/rec.sock\" maxconn=\"1\"/></service>
  <service name=\"hck\"><health path=\"/small\" interval=\"100ms\" timeout=\"100ms\"/><instance address=\"unix:$T/run/hck.sock\" maxconn=\"2\"/></service>" \
	GW_TIMEOUTS="header=\"5s\" body-idle=\"5s\" keepalive=\"30s\" connect=\"1s\" response=\"10s\" drain=\"5s\" queue=\"5s\" backend-idle=\"1s\"" \
	gateway_up
'

test_expect_success 'dynamic: start-servers workers at start; ondemand: none' '
	until_n 5 test "$(children $pid_dyn)" -eq 1 &&
	expect_eq "$(children $pid_od)" 0 &&
	expect_eq "$(children $pid_rec)" 1
'

test_expect_success 'dynamic: a burst gets a new worker within 100 ms' '
	first=$(ps --ppid $pid_dyn -o pid= | tr -d " ") &&
	for i in 1 2 3 4; do
		curl -s -o "$T/burst$i" -w "%{http_code}" --max-time 20 \
		    -H "X-Request-Id: burst$i" \
		    "http://127.0.0.1:$API_PORT/dyn/sleep?ms=4000" \
		    >"$T/burst$i.code" &
		eval "cp$i=\$!"
	done &&
	until_n 10 sh -c "[ \$(ps --ppid $pid_dyn -o pid= | wc -l) -ge 4 ]" &&
	status dyn "?full" && cp "$T/body" "$T/full1" &&
	lat=$(json "[p for p in j[\"responseBody\"][\"processes\"] if p[\"pid\"] == $first][0][\"request\"][\"startMs\"]") &&
	born=$(json "min(p[\"startTimeMs\"] for p in j[\"responseBody\"][\"processes\"] if p[\"pid\"] != $first)") &&
	echo "new worker $((born - lat)) ms after the first request" &&
	[ $((born - lat)) -ge 0 ] && [ $((born - lat)) -le 100 ]
'

test_expect_success 'status: the 4 slow requests and itself active' '
	until_n 10 sh -c "curl -s http://127.0.0.1:$ADMIN_PORT/status/dyn |
	    grep -q \"\\\"activeProcesses\\\":5,\"" &&
	status dyn && cat "$T/body" &&
	expect_eq "$(json "j[\"responseBody\"][\"processManager\"]")" dynamic &&
	t=$(json "j[\"responseBody\"][\"totalProcesses\"]") &&
	[ "$t" -ge 5 ] && [ "$t" -le 6 ] &&
	expect_eq "$(json "j[\"responseBody\"][\"listenQueue\"] is not None")" true
'

test_expect_success 'the burst: every request a 200; each slow one logged once with its id' '
	wait $cp1 $cp2 $cp3 $cp4 &&
	for i in 1 2 3 4; do
		expect_eq "$(cat "$T/burst$i.code")" 200 || return 1
		expect_eq "$(grep -c "slow request: worker [0-9]*, request id burst$i, GET /sleep?ms=4000, running for [0-9]* ms" "$T/log/dyn.log")" 1 || return 1
	done &&
	status dyn &&
	expect_eq "$(json "j[\"responseBody\"][\"slowRequests\"]")" 4 &&
	[ "$(json "j[\"responseBody\"][\"maxActiveProcesses\"]")" -ge 5 ]
'

test_expect_success 'status: accepted and served count what the test sent' '
	status dyn &&
	a=$(json "j[\"responseBody\"][\"acceptedRequests\"]") &&
	s=$(json "j[\"responseBody\"][\"servedRequests\"]") &&
	expect_eq "$s" $((a - 1)) &&
	for i in 1 2 3; do
		expect_eq "$(http GET "http://127.0.0.1:$API_PORT/dyn/small")" \
		    200 || return 1
	done &&
	status dyn &&
	expect_eq "$(json "j[\"responseBody\"][\"acceptedRequests\"]")" \
	    $((a + 4)) &&
	expect_eq "$(json "j[\"responseBody\"][\"servedRequests\"]")" \
	    $((a + 3))
'

test_expect_success 'dynamic: idle workers reaped down to max-spare' '
	until_n 15 children_le $pid_dyn 2 &&
	[ "$(children $pid_dyn)" -ge 1 ]
'

test_expect_success 'the status path is not reachable on the public listener' '
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/status/dyn")" 404 &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/dyn/x/pool-status")" \
	    404 &&
	expect_eq "$(http POST "http://127.0.0.1:$ADMIN_PORT/status/dyn")" 405
'

test_expect_success 'ondemand: a worker for the first connection, none after idle-timeout' '
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/od/small")" 200 &&
	expect_eq "$(children $pid_od)" 1 &&
	until_n 6 children_le $pid_od 0 &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/od/small")" 200
'

test_expect_success 'max-requests: a new worker after 3 requests, none failed' '
	p1=$(ps --ppid $pid_rec -o pid= | tr -d " ") &&
	for i in 1 2 3 4 5 6 7; do
		expect_eq "$(http GET "http://127.0.0.1:$API_PORT/rec/small")" \
		    200 || return 1
	done &&
	until_n 5 test "$(children $pid_rec)" -eq 1 &&
	p2=$(ps --ppid $pid_rec -o pid= | tr -d " ") &&
	[ "$p1" != "$p2" ] &&
	[ "$(grep -c "recycled after 3 requests" "$T/log/rec.log")" -ge 2 ] &&
	! grep -q "exited with" "$T/log/rec.log"
'

test_expect_success 'dynamic: health checks neither start nor retire workers' '
	until_n 5 test "$(children $pid_hck)" -eq 1 &&
	w1=$(ps --ppid $pid_hck -o pid= | tr -d " ") &&
	sleep 3 &&
	expect_eq "$(ps --ppid $pid_hck -o pid= | tr -d " ")" "$w1" &&
	status hck &&
	[ "$(json "j[\"responseBody\"][\"acceptedRequests\"]")" -ge 20 ]
'

test_done
