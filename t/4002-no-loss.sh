#!/bin/sh
# t/run: alone (it loads the machine; the runner gives it the machine to itself)
# No request is lost when processes die, reload or stop under load, and
# every request is counted (t/helper/load.py: by status, transport error
# and time):
#  1. kill -9 of every elp-course worker, several times: the pool master
#     restarts them and every request is a 200; with two causes of loss
#     found there pinned down alone: a backend that dies between its
#     response and END_REQUEST, and a pool that stops with a connection in
#     its listen queue;
#  2. ten SIGHUPs of the gateway, some with a new config and most of them
#     closer together than the drain time: every request is a 200, the
#     requests the oldest generation was serving finish, and the shared
#     state stays sane: the records of instances, services and routes a
#     newer config dropped are not handed to new keys while an older
#     generation still writes to them (the last configs need enough new
#     keys to wrap the allocation round to those records);
#  3. the only elp-course instance stopped and started again: each request
#     is a 200 or a 503 envelope within the connect timeout, none hangs,
#     and after the restart everything succeeds again.
# Real MariaDB, real elp-course pool, real elp-gateway.
. "$(dirname "$0")/lib.sh"

LOAD="$ROOT/t/helper/load.py"
METRICS="$ROOT/t/helper/metrics.py"
COURSE_WORKERS=4
COURSE_MAXCONN=3	# one app worker left for the health checks
CONNECT_MS=1000
SLACK_MS=1500		# over the connect timeout, for a loaded 2-core box
GW_TIMEOUTS="header='5s' body-idle='5s' keepalive='30s' connect='${CONNECT_MS}ms' response='10s' drain='5s' queue='5s'"
GW_WORKERS=2

# The shared state's capacities; the batch sizes below are fractions of
# them, chosen so that the third config of scenario 2 wraps round.
cap() {
	sed -n "s/^#define $1[[:space:]]*\([0-9]*\).*/\1/p" "$ROOT/proxy/proxy.h"
}
CAP_INS=$(cap SHM_MAX_INSTANCES)
CAP_SVC=$(cap SHM_MAX_SERVICES)
CAP_RT=$(cap SHM_MAX_ROUTES)
BATCH_INS=$((CAP_INS / CAP_SVC))	# instances per batch service

INSTANCES="    <health interval='500ms' timeout='400ms' rise='2' fall='3'/>
    <breaker cooldown='1s'/>
    <instance address='unix:$T/run/course.sock' maxconn='$COURSE_MAXCONN'/>"
ROUTES_COURSE="  <route listen='api' prefix='/course-management-api' service='course' rewrite='/course'/>
  <route listen='admin' prefix='/health/course' service='course' rewrite='/health'/>"
ROUTES_SLOW="  <route listen='api' prefix='/slow' service='echo' rewrite='/'/>"
SVC_ECHO="  <service name='echo'><health enabled='no'/><instance address='unix:$T/run/echo.sock' maxconn='4'/></service>"
SVC_GHOST="  <service name='ghost'><health interval='300ms' timeout='200ms' fall='2'/><instance address='unix:$T/run/ghost.sock' maxconn='1'/></service>"
# Two more for the first config only: a backend that dies between its
# response and END_REQUEST, and a pool of one worker to stop.
ROUTES_MORE="  <route listen='api' prefix='/noend' service='noend' rewrite='/'/>
  <route listen='api' prefix='/one' service='one' rewrite='/'/>"
SVC_MORE="  <service name='noend'><health enabled='no'/><instance address='unix:$T/run/noend.sock' maxconn='2'/></service>
  <service name='one'><health enabled='no'/><instance address='unix:$T/run/one.sock' maxconn='2'/></service>"

# batch NAME N: N services NAME0.. with BATCH_INS instances each (no
# checks, sockets nobody listens on) in $BATCH_SVC, and N routes /NAME0..
# to elp-course in $BATCH_RT.
batch() {
	BATCH_SVC=""
	BATCH_RT=""
	b_i=0
	while [ $b_i -lt "$2" ]; do
		BATCH_SVC="$BATCH_SVC
  <service name='$1$b_i'><health enabled='no'/>"
		b_j=0
		while [ $b_j -lt $BATCH_INS ]; do
			BATCH_SVC="$BATCH_SVC<instance address='unix:$T/run/$1-$b_i-$b_j.sock' maxconn='1'/>"
			b_j=$((b_j + 1))
		done
		BATCH_SVC="$BATCH_SVC</service>"
		BATCH_RT="$BATCH_RT
  <route listen='api' prefix='/$1$b_i' service='course' rewrite='/course'/>"
		b_i=$((b_i + 1))
	done
}

# course_workers: the PIDs of the elp-course pool's workers (its children
# but the background process).
course_workers() {
	cw_bg=$(sed -n 's/.*background process \([0-9]*\) started.*/\1/p' \
	    "$T/log/course.log" | tail -n 1)
	for cw_p in $(cat /proc/$pid_course/task/*/children); do
		[ "$cw_p" = "$cw_bg" ] || echo "$cw_p"
	done
}

# workers_replaced OLD...: true once the pool has its full count of
# workers again and none of OLD is among them (reaped and replaced).
workers_replaced() {
	wr_now=" $(echo $(course_workers)) "
	[ "$(echo $wr_now | wc -w)" -eq $COURSE_WORKERS ] || return 1
	for wr_p in "$@"; do
		case "$wr_now" in *" $wr_p "*) return 1 ;; esac
	done
}

# gw_children: how many processes the gateway master has (its workers, of
# every generation still alive).
gw_children() {
	cat /proc/$pid_gateway/task/*/children | wc -w
}

# gw_settled: true once only the current generation of workers is left.
gw_settled() {
	[ "$(gw_children)" -eq $GW_WORKERS ]
}

# reloads: how many reloads the gateway finished.
reloads() {
	grep -c "reload done" "$T/log/gateway.log"
}

# reloaded_past N: true once more than N reloads finished.
reloaded_past() {
	[ "$(reloads)" -gt "$1" ]
}

# hup: SIGHUP to the gateway, then wait until the master finished that
# reload (so no two signals merge into one reload).
hup() {
	h_n=$(reloads)
	kill -HUP $pid_gateway &&
	wait_for reloaded_past "$h_n"
}

# course_ok: true when the catalogue answers 200.
course_ok() {
	[ "$(http GET "$URL")" = 200 ]
}

# load_only N FILE STATUS...: prints FILE (load.py's output) and checks it
# holds no transport error, no status but STATUS..., and at least N
# answers with the first STATUS.
load_only() {
	lo_min=$1
	lo_file=$2
	shift 2
	cat "$lo_file"
	grep -q "^errors=0$" "$lo_file" || { echo "transport errors"; return 1; }
	for lo_s in $(sed -n "s/^\([0-9][0-9][0-9]\)=.*/\1/p" "$lo_file"); do
		case " $* " in
		*" $lo_s "*) ;;
		*) echo "unexpected status $lo_s"; return 1 ;;
		esac
	done
	[ "$(sed -n "s/^$1=//p" "$lo_file")" -ge "$lo_min" ]
}

test_expect_success 'start MariaDB, elp-course (4 workers), fcgi-echo and the gateway' '
	db_up &&
	course_up course $COURSE_WORKERS &&
	echo_up echo 4 &&
	echo_up one 1 &&
	spawn noend python3 "$ROOT/t/helper/fcgi-bad.py" "$T/run/noend.sock" noend &&
	wait_for test -S "$T/run/noend.sock" &&
	ROUTES="$ROUTES_COURSE
$ROUTES_SLOW
$ROUTES_MORE" SERVICES_EXTRA="$SVC_ECHO
$SVC_GHOST
$SVC_MORE" gateway_up &&
	wait_for workers_replaced
'
API=http://127.0.0.1:$API_PORT/course-management-api
URL="$API?pageNumber=0&limit=2"
ADMIN=http://127.0.0.1:$ADMIN_PORT

test_expect_success 'the catalogue answers through the gateway' '
	expect_eq "$(http GET "$URL")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"totalCount\"]")" 3
'

# stopped PID...: true once every PID is stopped (state T).
stopped() {
	for st_p in "$@"; do
		[ "$(cut -d" " -f3 /proc/$st_p/stat)" = T ] || return 1
	done
}

# kill_rounds: kills every elp-course worker with SIGKILL, 4 times, 1.5 s
# apart, waiting each time until the pool master replaced them all; the
# killed PIDs go to $KILLED. The workers are stopped first so that they
# all die at one instant: killed one after the other, the one killed last
# could still accept the retry of a request another one died with, and a
# request that fails twice that way is beyond the single retry the
# gateway grants a service of one instance.
kill_rounds() {
	KILLED=""
	for round in 1 2 3 4; do
		sleep 1.5 &&
		old=$(course_workers) &&
		[ "$(echo $old | wc -w)" -eq $COURSE_WORKERS ] &&
		kill -STOP $old &&
		wait_for stopped $old &&
		kill -9 $old &&
		KILLED="$KILLED $old" &&
		wait_for workers_replaced $old || return 1
	done
	sleep 1.5
}

test_expect_success 'every elp-course worker killed with SIGKILL, 4 times under load: every request is a 200' '
	python3 "$LOAD" "$URL" 40 4 --stats --stop-file "$T/stop-kill" \
	    >"$T/load-kill" &
	lp=$!
	kill_rounds && kill -0 $lp
	rc=$?
	touch "$T/stop-kill"
	wait $lp &&
	[ $rc -eq 0 ] &&
	load_only 200 "$T/load-kill" 200 &&
	for p in $KILLED; do
		loggrep course.log "worker $p exited with signal 9, restarting" ||
		    return 1
	done
'

test_expect_success 'elp-course logged no crash of its own' '
	! grep -E "exited with (status [1-9]|signal [^9])" "$T/log/course.log"
'

test_expect_success 'a response whole by its Content-Length but without END_REQUEST: the kept-alive connection serves the next request' '
	python3 -c "
import http.client, sys
c = http.client.HTTPConnection(\"127.0.0.1\", int(sys.argv[1]), timeout=10)
out = []
for i in range(3):
    try:
        c.request(\"GET\", \"/noend/x\")
        r = c.getresponse()
        out.append(\"%d:%s\" % (r.status, r.read().decode()))
    except Exception as e:
        out.append(type(e).__name__)
        c.close()
print(\" \".join(out))
" $API_PORT >"$T/noend.out" &&
	expect_eq "$(cat "$T/noend.out")" \
	    "200:{\"ok\":true} 200:{\"ok\":true} 200:{\"ok\":true}" &&
	loggrep gateway.log "noend@.*: closed after the response, before its end"
'

test_expect_success 'a pool stopping closes the connections waiting in its listen queue at once' '
	curl -s -o /dev/null -w "%{http_code}" --max-time 20 \
	    "http://127.0.0.1:$API_PORT/one/sleep?ms=3000" >"$T/one-a" &
	pa=$!
	sleep 0.5
	curl -s -o "$T/one-b.body" -w "%{http_code} %{time_total}" --max-time 20 \
	    "http://127.0.0.1:$API_PORT/one/small" >"$T/one-b" &
	pb=$!
	sleep 0.5
	kill -TERM $pid_one &&
	wait $pb && wait $pa &&
	cat "$T/one-a" "$T/one-b" "$T/one-b.body" &&
	expect_eq "$(cat "$T/one-a")" 200 &&
	set -- $(cat "$T/one-b") &&
	expect_eq "$1" 503 &&
	python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 1.8)" "$2" &&
	grep -q "Service one is unavailable" "$T/one-b.body" &&
	loggrep one.log "closed 1 queued connection"
'

SLOW_MS=4000
N_G=$((CAP_SVC * 15 / 32))
N_B=$((CAP_SVC / 4))
N_C=$((CAP_SVC * 3 / 8))

# slow_start: three requests to /slow that take SLOW_MS, in the background
# (status codes to slowN.code, PIDs in $SLOW_PIDS).
slow_start() {
	SLOW_PIDS=""
	for i in 1 2 3; do
		curl -s -o "$T/slow$i.body" -w "%{http_code}" --max-time 20 \
		    "http://127.0.0.1:$API_PORT/slow/sleep?ms=$SLOW_MS" \
		    >"$T/slow$i.code" &
		SLOW_PIDS="$SLOW_PIDS $!"
	done
}

# hup_rounds: the ten reloads of scenario 2.
hup_rounds() {
	[ "$CAP_RT" -eq "$CAP_SVC" ] && [ $((CAP_INS % CAP_SVC)) -eq 0 ] || {
		echo "the batch sizes assume as many routes as services and" \
		    "a whole number of instances per service"
		return 1
	}
	batch g $N_G && G_SVC=$BATCH_SVC G_RT=$BATCH_RT &&
	batch b $N_B && B_SVC=$BATCH_SVC B_RT=$BATCH_RT &&
	batch c $N_C && C_SVC=$BATCH_SVC C_RT=$BATCH_RT &&
	sleep 1 &&
	say "1: many more services, instances and routes" &&
	ROUTES="$ROUTES_COURSE
$ROUTES_SLOW
$G_RT" SERVICES_EXTRA="$SVC_ECHO
$SVC_GHOST
$G_SVC" gateway_conf && hup &&
	wait_long 20 gw_settled &&
	say "2: the base config again: the records of the batch are free" &&
	ROUTES="$ROUTES_COURSE
$ROUTES_SLOW" SERVICES_EXTRA="$SVC_ECHO
$SVC_GHOST" gateway_conf && hup &&
	wait_long 20 gw_settled &&
	say "requests on /slow, in progress in this generation" &&
	slow_start &&
	sleep 0.5 &&
	say "3: echo and /slow dropped, a second batch added" &&
	ROUTES="$ROUTES_COURSE
$B_RT" SERVICES_EXTRA="$SVC_GHOST
$B_SVC" gateway_conf && hup &&
	say "4: at once a third batch instead, wrapping round" &&
	ROUTES="$ROUTES_COURSE
$C_RT" SERVICES_EXTRA="$SVC_GHOST
$C_SVC" gateway_conf && hup || return 1
	for i in 5 6 7 8 9 10; do
		sleep 0.2 && hup || return 1
	done
	for p in $SLOW_PIDS; do
		wait $p || return 1
	done
}

test_expect_success 'ten SIGHUPs under load, four with a new config, most closer than the drain time' '
	python3 "$LOAD" "$URL" 60 4 --stats --stop-file "$T/stop-hup" \
	    >"$T/load-hup" &
	lp=$!
	hup_rounds && kill -0 $lp
	rc=$?
	touch "$T/stop-hup"
	wait $lp &&
	[ $rc -eq 0 ] &&
	load_only 200 "$T/load-hup" 200 &&
	expect_eq "$(cat "$T/slow1.code") $(cat "$T/slow2.code") $(cat "$T/slow3.code")" \
	    "200 200 200" &&
	expect_eq "$(reloads)" 10 &&
	! grep "reload refused" "$T/log/gateway.log"
'

test_expect_success 'every generation but the last drained and exited' '
	wait_long 20 gw_settled
'

test_expect_success 'shared state after the reloads: each record once, none inherited from a dropped key' '
	n_c=$N_C &&
	curl -sf "$ADMIN/metrics" >"$T/metrics" &&
	python3 "$METRICS" "$T/metrics" \
	    "#elp_instance_up == $((2 + n_c * BATCH_INS))" \
	    "#elp_instance_up{instance~/course\.sock$} == 1" \
	    "#elp_breaker_state == $((2 + n_c * BATCH_INS))" \
	    "#elp_instance_connections == $((2 + n_c * BATCH_INS))" \
	    "#elp_instance_up{service~^(echo|g[0-9]|b[0-9])} == 0" \
	    "elp_instance_up{service~^course$} == 1" \
	    "elp_breaker_state{service~^course$} == 0" \
	    "elp_instance_connections{service~^course$} <= $COURSE_MAXCONN" \
	    "elp_instance_up{service~^ghost$} == 0" \
	    "elp_instance_up{service~^c[0-9]} == 1" \
	    "elp_breaker_state{service~^c[0-9]} == 0" \
	    "elp_instance_connections{service~^c[0-9]} == 0" \
	    "elp_instance_requests_total{service~^c[0-9]} == 0" \
	    "elp_instance_failures_total{service~^c[0-9]} == 0" \
	    "#elp_requests_total{route~^/c[0-9]} == $((n_c * 6))" \
	    "elp_requests_total{route~^/c[0-9]} == 0" \
	    "elp_upstream_latency_seconds_count{service~^c[0-9]} == 0" \
	    "elp_retries_total{service~^c[0-9]} == 0" \
	    "+elp_requests_total{route~^/course-management-api$,code~2xx} >= 200"
'

test_expect_success 'after the reloads a request to every route works' '
	expect_eq "$(http GET "$URL")" 200 &&
	expect_eq "$(http GET "$ADMIN/health/course")" 200 &&
	i=0 &&
	while [ $i -lt $N_C ]; do
		expect_eq "$(http GET "http://127.0.0.1:$API_PORT/c$i?limit=1")" 200 ||
		    return 1
		i=$((i + 1))
	done &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/slow/small")" 404 &&
	curl -sf "$ADMIN/metrics" >"$T/metrics2" &&
	python3 "$METRICS" "$T/metrics2" \
	    "elp_requests_total{route~^/c[0-9],code~2xx} == 1"
'

# stop_start: SIGTERM to elp-course (waiting for its exit), 2 s without
# it, then a new elp-course and the wait for its first 200.
stop_start() {
	sleep 1.5 &&
	stop_pid $pid_course &&
	sleep 2 &&
	course_up course $COURSE_WORKERS &&
	wait_long 20 course_ok &&
	sleep 1
}

test_expect_success 'elp-course stopped and started under load: a 200, or a 503 envelope within the connect timeout' '
	python3 "$LOAD" "$URL" 60 4 --stats --stop-file "$T/stop-term" \
	    --log "$T/load-term.log" >"$T/load-term" &
	lp=$!
	stop_start && kill -0 $lp
	rc=$?
	touch "$T/stop-term"
	wait $lp &&
	[ $rc -eq 0 ] &&
	load_only 1 "$T/load-term" 503 200 &&
	[ "$(sed -n "s/^200=//p" "$T/load-term")" -ge 50 ] &&
	expect_eq "$(sed -n "s/^bad_body=//p" "$T/load-term")" 0 &&
	[ "$(sed -n "s/^max_ms=//p" "$T/load-term")" -le $((CONNECT_MS + SLACK_MS)) ]
'

test_expect_success 'after the restart every request succeeds again' '
	python3 "$LOAD" "$URL" 3 4 --stats >"$T/load-after" &&
	load_only 50 "$T/load-after" 200
'

test_done
