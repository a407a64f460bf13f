#!/bin/sh
# Registration end to end, every program real: elp-course pools with
# <register> register through the gateway's admin route with elp-confd
# (client-credentials token of elp-auth), elp-confd writes leases.xml, the
# gateway routes to them within a second; a pool killed with kill -9
# leaves routing once its lease expires, and one stopped cleanly
# deregisters before it drains, while a load loop on the course API sees
# only 200s.
. "$(dirname "$0")/lib.sh"

REG_CLIENT="    <client id='elp-registrar' grants='client_credentials'
            secret-file='$T/var/secrets/auth-elp-registrar.secret'
            roles='registry'/>"
TOKEN_URL=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/token
LEASES=$T/conf/leases.xml

# status: GET /admin/status into $T/body.
status() {
	http GET "http://127.0.0.1:$ADMIN_PORT/admin/status" >/dev/null
}

# field ADDRESS KEY: KEY of course instance ADDRESS ("none": not listed).
field() {
	status && json "([i.get(\"$2\") for i in j[\"responseBody\"][\"services\"][\"course\"] if i[\"address\"] == \"$1\"] + [\"none\"])[0]"
}

is() {
	expect_eq "$(field "$1" "$2")" "$3"
}

# gets ADDRESS: ADDRESS took a request.
gets() {
	n=$(field "$1" requests) && [ "$n" != none ] && [ "$n" -gt 0 ]
}

# pool_up NAME: elp-course NAME on run/NAME.sock, registering itself.
pool_up() {
	course_conf "$1" "$T/run/$1.sock" 2 &&
	sed -i "/<pool /a\\
  <register service=\"course\" lease=\"3s\" timeout=\"800ms\" backoff-max=\"2s\"\\
            url=\"http://127.0.0.1:$ADMIN_PORT/registry\" token-url=\"$TOKEN_URL\"\\
            client-id=\"elp-registrar\"\\
            secret-file=\"$T/var/secrets/auth-elp-registrar.secret\"/>" \
	    "$T/conf/services/$1.xml" &&
	"$BIN/elp-course" -t -c "$T/conf/services/$1.xml" &&
	spawn "$1" "$BIN/elp-course" -c "$T/conf/services/$1.xml" &&
	wait_for test -S "$T/run/$1.sock"
}

# kill9 NAME: kill -9 the pool NAME and its children.
kill9() {
	eval "p=\$pid_$1"
	kids=$(ps -o pid= --ppid "$p")
	# The master first: it would fork new workers.
	kill -9 "$p" &&
	for c in $kids; do
		kill -9 "$c" 2>/dev/null || :
	done
}

test_expect_success 'database, elp-auth (with a registry client), course' '
	db_up && mkdir -p "$T/var/secrets" &&
	(umask 077 && openssl rand -hex 24 >"$T/var/secrets/auth-elp-registrar.secret") &&
	AUTH_CLIENTS_EXTRA=$REG_CLIENT auth_up &&
	course_up course 2
'
ROUTES="  <route listen='admin' prefix='/realms/e-learning-platform' service='auth'/>
  <route listen='api' prefix='/course-management-api' service='course' rewrite='/course'/>"
confd_routes
INSTANCES="    <health interval='500ms' timeout='400ms' rise='1' fall='1'/>
    <instance address='unix:$T/run/course.sock' maxconn='2'/>"
CONFD_LEASES="min-lease='1s' max-lease='1h' sweep='200ms' window='0s' self-preservation-min='100'"
confd_conf
gateway_conf

test_expect_success 'gateway and elp-confd up; a load loop on the course API' '
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	confd_up &&
	wait_for curl -sf "http://127.0.0.1:$API_PORT/course-management-api" &&
	spawn load python3 "$ROOT/t/helper/load.py" \
	    "http://127.0.0.1:$API_PORT/course-management-api" 600 4 --stats \
	    --stop-file "$T/stop"
'

test_expect_success 'a pool with <register> registers and gets traffic' '
	pool_up c2 &&
	wait_for grep -q "registered, lease" "$T/log/c2.log" &&
	wait_for grep -q "unix:$T/run/c2.sock" "$LEASES" &&
	wait_for is "unix:$T/run/c2.sock" source leased &&
	wait_for gets "unix:$T/run/c2.sock" &&
	grep "c2.sock" "$LEASES" | grep -q "maxconn=\"2\""
'

test_expect_success 'it renews its lease (PUT at a third of 3 s)' '
	id=$(field "unix:$T/run/c2.sock" leaseId) &&
	e1=$(field "unix:$T/run/c2.sock" expires) &&
	sleep 2.5 &&
	expect_eq "$(field "unix:$T/run/c2.sock" leaseId)" "$id" &&
	e2=$(field "unix:$T/run/c2.sock" expires) &&
	say "expiry $e1 -> $e2" &&
	[ "$(echo "$e2" | tr -dc 0-9)" -gt "$(echo "$e1" | tr -dc 0-9)" ]
'

test_expect_success 'kill -9: the lease expires, the instance leaves routing, no failed request' '
	kill9 c2 &&
	wait_for sh -c "! grep -q c2.sock $LEASES" &&
	wait_for is "unix:$T/run/c2.sock" source none &&
	loggrep confd.log "of course at unix:$T/run/c2.sock expired; removed"
'

test_expect_success 'a clean stop deregisters before the drain' '
	pool_up c3 &&
	wait_for gets "unix:$T/run/c3.sock" &&
	stop_pid "$pid_c3" &&
	r=$(grep -n "registrar stopped" "$T/log/c3.log" | cut -d: -f1) &&
	d=$(grep -n "draining workers" "$T/log/c3.log" | cut -d: -f1) &&
	[ "$r" -lt "$d" ] &&
	loggrep c3.log "lease [0-9a-f]{32} deregistered" &&
	! grep -q "c3.sock" "$LEASES" &&
	wait_for is "unix:$T/run/c3.sock" source none &&
	! grep -E "c3.sock: connect|c3.sock failed" "$T/log/gateway.log"
'

test_expect_success 'the load loop saw only 200s' '
	touch "$T/stop" &&
	wait_for grep -q "^errors=" "$T/log/load.log" &&
	cat "$T/log/load.log" &&
	loggrep load.log "^errors=0$" &&
	expect_eq "$(grep -E "^[0-9]{3}=" "$T/log/load.log" | grep -v "^200=" | wc -l)" 0
'

test_done
