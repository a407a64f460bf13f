#!/bin/sh
# elp-confd's watcher: an edit of gateway.xml under load changes routing
# with no failed request; an invalid edit is refused with file:line (log
# and GET /config/status) while the old configuration keeps serving, and
# fixing the file recovers without a restart; an edit by rename and one
# through an editor's swap file are both noticed.
. "$(dirname "$0")/lib.sh"

echo_up one 2
echo_up two 2
ROUTES="  <route listen='api' prefix='/x' service='one' rewrite='/'/>"
INSTANCES="    <instance address='unix:$T/run/one.sock' maxconn='2'/>"
SERVICES_EXTRA="  <service name='one'>
    <instance address='unix:$T/run/one.sock' maxconn='2'/>
  </service>
  <service name='two'>
    <instance address='unix:$T/run/two.sock' maxconn='2'/>
  </service>"
confd_routes
confd_conf
gateway_conf
CFG=http://127.0.0.1:$ADMIN_PORT/config

# routed_to NAME: the last requests of the load went to service NAME.
routed_to() {
	n=$(grep -c . "$T/log/access.log")
	sleep 0.5
	tail -n +"$((n + 1))" "$T/log/access.log" | grep -q "route=/x ins=$1@" &&
	! tail -n +"$((n + 1))" "$T/log/access.log" | grep "route=/x " |
	    grep -vq "ins=$1@"
}

# status_is good|refused: what GET /config/status says now.
status_is() {
	http GET "$CFG/status" >/dev/null &&
	test "$(json "j[\"responseBody\"][\"current\"]")" = "$1"
}

test_expect_success 'gateway and elp-confd up; version 1 published' '
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	confd_up && wait_for status_is good &&
	st=$(http GET "http://127.0.0.1:$API_PORT/x/small") &&
	expect_eq "$st" 200
'

python3 "$ROOT/t/helper/load.py" "http://127.0.0.1:$API_PORT/x/small" 60 2 \
    --stop-file "$T/stop-load" >"$T/load" 2>&1 &
LOAD=$!
test_pids="$test_pids $LOAD"

test_expect_success 'an edit by rename (sed -i) moves /x to service two' '
	wait_for routed_to one &&
	sed -i "s/service=.one. rewrite/service=\"two\" rewrite/" "$T/conf/gateway.xml" &&
	wait_for routed_to two &&
	loggrep confd.log "gateway configuration changed; SIGHUP sent to [0-9]+" &&
	wait_for status_is good &&
	http GET "$CFG/status" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"lastGood\"][\"version\"]")" 2
'

test_expect_success 'an invalid edit in place is refused with file:line' '
	cp "$T/conf/gateway.xml" "$T/good.xml" &&
	line=$(grep -n "prefix=./x." "$T/conf/gateway.xml" | cut -d: -f1) &&
	sed "s/prefix=.\/x. service/prefx=\"\/x\" service/" "$T/good.xml" >"$T/bad.xml" &&
	cat "$T/bad.xml" >"$T/conf/gateway.xml" &&
	wait_for status_is refused &&
	http GET "$CFG/status" >/dev/null &&
	json "j[\"responseBody\"][\"lastRefused\"][\"reasons\"]" |
	    grep -q "gateway.xml:$line:" &&
	expect_eq "$(json "j[\"responseBody\"][\"lastGood\"][\"version\"]")" 2 &&
	loggrep confd.log "error: configuration refused: .*gateway.xml:$line:" &&
	loggrep confd.log "refused .*the last good version keeps serving"
'

test_expect_success 'the old configuration keeps serving' '
	routed_to two &&
	st=$(http GET "$CFG/status") && expect_eq "$st" 200 &&
	kill -0 "$pid_gateway" && kill -0 "$pid_confd"
'

test_expect_success 'a fix through a swap file (vim) recovers, no restart' '
	echo swap >"$T/conf/.gateway.xml.swp" &&
	echo probe >"$T/conf/4913" && rm -f "$T/conf/4913" &&
	cp "$T/conf/gateway.xml" "$T/conf/gateway.xml~" &&
	sed "s/service=.two. rewrite/service=\"one\" rewrite/" "$T/good.xml" >"$T/conf/gateway.xml" &&
	rm -f "$T/conf/.gateway.xml.swp" &&
	wait_for status_is good &&
	wait_for routed_to one &&
	http GET "$CFG/status" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"lastGood\"][\"version\"]")" 3 &&
	kill -0 "$pid_confd"
'

test_expect_success 'swap, probe and backup files alone change nothing' '
	c=$(python3 -c "import json; print(json.load(open(\"$T/var/confd/state.json\"))[\"checks\"])") &&
	echo x >"$T/conf/.gateway.xml.swp" && echo y >"$T/conf/gateway.xml~" &&
	sleep 1 &&
	c2=$(python3 -c "import json; print(json.load(open(\"$T/var/confd/state.json\"))[\"checks\"])") &&
	expect_eq "$c2" "$c"
'

test_expect_success 'an edit of a pool s own file: that pool is told to re-read it' '
	sed -i "s/workers=\"2\"/workers=\"3\"/" "$T/conf/services/confd.xml" &&
	grep -q "workers=\"3\"" "$T/conf/services/confd.xml" &&
	wait_for loggrep confd.log "confd changed; SIGHUP sent to $(cat "$T/run/confd.pid")" &&
	wait_for loggrep confd.log "reloaded: 3 new workers" &&
	wait_for status_is good
'

test_expect_success 'no request failed meanwhile (load: no error, only 200)' '
	touch "$T/stop-load" && wait "$LOAD" &&
	cat "$T/load" &&
	grep -q "^200=" "$T/load" &&
	! grep -v "^total=\|^200=\|^errors=0$" "$T/load" | grep -q . &&
	grep -q "^errors=0$" "$T/load"
'

test_done
