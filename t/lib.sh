# t/lib.sh: the integration test harness (after git's t/test-lib.sh).
#
# A test script sources this file, then calls
#	test_expect_success 'title' 'shell commands'
# for each assertion and test_done at the end. Commands are evaluated in
# the test's shell (so they can start processes and set variables) and are
# &&-chained; the assertion passes when the chain succeeds. Each script gets its
# own directory $T (under var/test/), its own free loopback ports, its own
# processes, and stops exactly the PIDs it started.
#
# Environment: BUILD (binaries in $BUILD/bin, default build), ELP_TEST_KEEP=1
# keeps $T for inspection, ELP_TEST_VERBOSE=1 shows command output,
# ELP_TEST_PORTS="LO HI" the range free_port draws from.

set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) BIN=$BUILD/bin; HELPERS=$BUILD/t/helper ;;
*) BIN=$ROOT/$BUILD/bin; HELPERS=$ROOT/$BUILD/t/helper ;;
esac
TEST_NAME=$(basename "$0" .sh)
T=$ROOT/var/test/$TEST_NAME${ELP_TEST_SUFFIX:-}
test_count=0
test_failed=0
test_pids=""
test_dbs=""

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on. The
# port is drawn below the kernel's ephemeral range, so no outgoing
# connection can take it before the test binds it, and never twice in one
# test ($T/ports keeps the ones handed out). ELP_TEST_PORTS="LO HI" narrows
# the range (t/run gives each of its parallel lanes its own).
free_port() {
	python3 - "$T/ports" ${ELP_TEST_PORTS:-20000 32000} <<'PY'
import random, socket, sys
lo, hi = int(sys.argv[2]), int(sys.argv[3])
try:
    used = set(open(sys.argv[1]).read().split())
except FileNotFoundError:
    used = set()
for _ in range(2000):
    p = random.randrange(lo, hi)
    if str(p) in used:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write("%d\n" % p)
    print(p)
    sys.exit(0)
sys.exit("no free port")
PY
}

rm -rf "$T"
mkdir -p "$T/conf" "$T/run" "$T/log"
ln -s "$ROOT/conf/schema" "$T/conf/schema"
cd "$T" || exit 1

say() {
	printf '# %s\n' "$*"
}

# test_run_ COMMANDS: runs a step as a function body, so that a "return N"
# in it ends the step with that status instead of returning from
# test_expect_success before the step is counted.
test_run_() {
	eval "$1"
}

# test_expect_success TITLE COMMANDS
test_expect_success() {
	test_count=$((test_count + 1))
	if [ "${ELP_TEST_VERBOSE:-0}" = 1 ]; then
		test_run_ "$2"
	else
		test_run_ "$2" >"$T/log/step-$test_count.out" 2>&1
	fi
	rc=$?
	if [ $rc -eq 0 ]; then
		printf 'ok %d - %s\n' "$test_count" "$1"
	else
		test_failed=$((test_failed + 1))
		printf 'not ok %d - %s\n' "$test_count" "$1"
		if [ -f "$T/log/step-$test_count.out" ]; then
			sed 's/^/#   /' "$T/log/step-$test_count.out" | tail -n 30
		fi
		test_log_errors
	fi
}

# test_log_errors: after a failed step, the last error lines of the
# programs' logs, so that a run elsewhere shows why.
test_log_errors() {
	for f in "$T"/log/*.log; do
		[ -f "$f" ] || continue
		case $f in */access*.log) continue ;; esac
		grep -E -i '(error|fatal|emerg|crit|cannot|refus|abort)' "$f" |
		    tail -n 5 | sed "s|^|#   $(basename "$f"): |"
	done
}

# Sanitizer reports in any log of this test fail it.
test_check_sanitizers() {
	if grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
	    "$T"/log/*.log >/dev/null 2>&1; then
		test_count=$((test_count + 1))
		test_failed=$((test_failed + 1))
		printf 'not ok %d - no sanitizer reports in the logs\n' \
		    "$test_count"
		grep -h -A 12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' \
		    "$T"/log/*.log | sed 's/^/#   /' | head -n 60
	fi
}

test_cleanup() {
	for p in $test_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $test_pids; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$p" 2>/dev/null
	done
	test_pids=""
	for d in $test_dbs; do
		ELP_VAR=$d "$ROOT/scripts/db" stop >/dev/null 2>&1
	done
	test_dbs=""
}

test_done() {
	test_cleanup
	test_check_sanitizers
	printf '# %s: %d/%d passed\n' "$TEST_NAME" \
	    $((test_count - test_failed)) "$test_count"
	printf '1..%d\n' "$test_count"
	cd "$ROOT" || exit 1
	if [ "$test_failed" -eq 0 ] && [ "${ELP_TEST_KEEP:-0}" != 1 ]; then
		rm -rf "$T"
	fi
	[ "$test_failed" -eq 0 ]
	exit $?
}

API_PORT=$(free_port)
ADMIN_PORT=$(free_port)
IDP_PORT=$(free_port)

trap 'test_cleanup' EXIT
trap 'exit 130' INT TERM

# wait_for CMD...: retries CMD for up to 15 s.
wait_for() {
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 150 ] || return 1
		sleep 0.1
	done
}

# spawn NAME CMD...: runs CMD in the background, logging to log/NAME.log,
# and remembers its PID for cleanup.
spawn() {
	name=$1
	shift
	"$@" >>"$T/log/$name.log" 2>&1 &
	test_pids="$test_pids $!"
	eval "pid_$name=$!"
}

# stop_pid PID: TERM and wait (at most 10 s).
stop_pid() {
	kill "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { kill -9 "$1"; break; }
		sleep 0.1
	done
	wait "$1" 2>/dev/null
	return 0
}

# db_up [DIR]: a private MariaDB for this test, migrated and seeded.
db_up() {
	dbvar=${1:-$T/var}
	test_dbs="$test_dbs $dbvar"
	ELP_VAR=$dbvar "$ROOT/scripts/db" up >"$T/log/db-up.out" 2>&1 &&
	    ELP_VAR=$dbvar "$ROOT/scripts/db" seed >>"$T/log/db-up.out" 2>&1
}

db_stop() {
	ELP_VAR=${1:-$T/var} "$ROOT/scripts/db" stop >>"$T/log/db.out" 2>&1
}

db_start() {
	ELP_VAR=${1:-$T/var} "$ROOT/scripts/db" start >>"$T/log/db.out" 2>&1
}

# course_conf NAME SOCKET [WORKERS]: writes conf/services/NAME.xml
# ($COURSE_EXTRA: more elements, e.g. <messaging>).
course_conf() {
	mkdir -p "$T/conf/services"
	cat >"$T/conf/services/$1.xml" <<XML
<service name="course">
  <log level="info"/>
  <pool listen="unix:$2" workers="${3:-2}" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_course"
            user="elp_course" password-file="$T/var/secrets/db-course.pw"
            connect-timeout="1s" timeout="3s"/>
  <limits max-body="1m" max-page-size="1000"/>
  <auth jwks-url="http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="http://127.0.0.1:$IDP_PORT/realms/e-learning-platform"
        audience="elp-api"/>
${COURSE_EXTRA:-}
</service>
XML
}

# course_up [NAME] [WORKERS]: starts elp-course on run/NAME.sock.
course_up() {
	n=${1:-course}
	course_conf "$n" "$T/run/$n.sock" "${2:-2}"
	spawn "$n" "$BIN/elp-course" -c "$T/conf/services/$n.xml"
	wait_for test -S "$T/run/$n.sock"
}

# auth_conf NAME SOCKET: writes conf/services/NAME.xml for elp-auth with
# the issuer on $IDP_PORT, cheap Argon2 and a short brute-force wait
# ($AUTH_BF_FAILURES, $AUTH_BF_WAIT, $AUTH_ACCESS override; $AUTH_CLIENTS_EXTRA:
# more <client> elements; $AUTH_ACCOUNT: an <account> element after them;
# $AUTH_MAIL: <smtp> and <outbox> after </realm>; $AUTH_WORKERS,
# $AUTH_T_COST, $AUTH_M_COST, and $AUTH_LIFETIMES_ATTRS,
# $AUTH_PASSWORD_ATTRS, $AUTH_BF_ATTRS: more attributes of those elements).
auth_conf() {
	mkdir -p "$T/conf/services"
	cat >"$T/conf/services/$1.xml" <<XML
<service name="auth">
  <log level="info"/>
  <pool listen="unix:$2" workers="${AUTH_WORKERS:-2}" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_auth"
            user="elp_auth" password-file="$T/var/secrets/db-auth.pw"
            connect-timeout="1s" timeout="3s"/>
  <realm issuer="http://127.0.0.1:$IDP_PORT/realms/e-learning-platform"
         keys="$T/var/auth/keys">
    <lifetimes access="${AUTH_ACCESS:-300s}" code="30s" ${AUTH_LIFETIMES_ATTRS:-}/>
    <password t-cost="${AUTH_T_COST:-1}" m-cost="${AUTH_M_COST:-1024}" parallelism="1" ${AUTH_PASSWORD_ATTRS:-}/>
    <brute-force failures="${AUTH_BF_FAILURES:-5}" wait="${AUTH_BF_WAIT:-2s}" max-wait="10s" ${AUTH_BF_ATTRS:-}/>
    <client id="spa-client" public="yes"
            grants="authorization_code refresh_token"
            redirect-uris="http://localhost:4200/general/callback"
            post-logout-uris="http://localhost:4200"
            web-origins="http://localhost:4200" pkce="S256"/>
    <client id="admin-cli" public="yes" grants="password refresh_token"/>
    <client id="elp-user" grants="client_credentials"
            secret-file="$T/var/secrets/auth-elp-user.secret"
            roles="view-users manage-users reset-passwords delete-users messaging-service"/>
    <client id="elp-course" grants="client_credentials"
            secret-file="$T/var/secrets/auth-elp-course.secret"
            roles="messaging-service"/>
    <client id="elp-messaging" grants="client_credentials"
            secret-file="$T/var/secrets/auth-elp-messaging.secret"
            roles="view-users"/>
    <client id="account-console" public="yes" grants="authorization_code"
            redirect-uris="http://127.0.0.1:$IDP_PORT/realms/e-learning-platform/account"
            pkce="S256"/>
${AUTH_CLIENTS_EXTRA:-}
${AUTH_ACCOUNT:-}
  </realm>
${AUTH_MAIL:-}
</service>
XML
}

# auth_up [NAME]: secrets, config, elp-auth on run/NAME.sock; sets the
# gateway routes of the idp and admin listeners to it.
auth_up() {
	n=${1:-auth}
	ELP_VAR=$T/var "$ROOT/scripts/auth" init >>"$T/log/auth-init.out" 2>&1 &&
	auth_conf "$n" "$T/run/$n.sock" &&
	spawn "$n" "$BIN/elp-auth" -c "$T/conf/services/$n.xml" &&
	wait_for test -S "$T/run/$n.sock" || return 1
	ROUTES="  <route listen='idp' prefix='/realms/e-learning-platform' service='auth'/>
  <route listen='admin' prefix='/realms/e-learning-platform' service='auth'/>
  <route listen='admin' prefix='/admin/realms/e-learning-platform' service='auth'/>
  <route listen='admin' prefix='/health/auth' service='auth' rewrite='/health'/>"
	SERVICES_EXTRA="  <service name='auth'>
    <instance address='unix:$T/run/$n.sock' maxconn='2'/>
  </service>"
}

# echo_up NAME [WORKERS]: starts the fcgi-echo test app on run/NAME.sock.
echo_up() {
	spawn "$1" "$HELPERS/fcgi-echo" -l "unix:$T/run/$1.sock" -w "${2:-2}"
	wait_for test -S "$T/run/$1.sock"
}

# gateway_conf: writes conf/gateway.xml and conf/services.xml. Uses
# $API_PORT and $ADMIN_PORT (and $STREAM_PORT, when set, for a "stream"
# listener); $ROUTES and $INSTANCES override the defaults, $API_LISTEN_ATTRS
# adds attributes to the api listener.
gateway_conf() {
	: "${GW_TIMEOUTS:=header='5s' body-idle='5s' keepalive='30s' connect='1s' response='10s' drain='5s' queue='5s'}"
	: "${GW_LIMITS:=header-bytes='8k' headers='50' target='2k' max-body='64k'}"
	: "${INSTANCES:=    <instance address='unix:$T/run/course.sock' maxconn='2'/>}"
	if [ -z "${ROUTES:-}" ]; then
		ROUTES="  <route listen='api' prefix='/course-management-api' service='course' rewrite='/course'/>
  <route listen='admin' prefix='/health/course' service='course' rewrite='/health'/>"
	fi
	cat >"$T/conf/gateway.xml" <<XML
<gateway workers="${GW_WORKERS:-2}" registry="services.xml"
         pidfile="$T/run/gateway.pid">
  <log level="${GW_LOG_LEVEL:-info}" error="$T/log/gateway.log"
       access="$T/log/access.log"/>
  <listen name="api" address="127.0.0.1:$API_PORT" ${API_LISTEN_ATTRS:-}/>
  <listen name="idp" address="127.0.0.1:$IDP_PORT"/>
  <listen name="admin" address="127.0.0.1:$ADMIN_PORT" admin="yes"/>
  ${STREAM_PORT:+<listen name='stream' address='127.0.0.1:$STREAM_PORT'/>}
  ${GW_AUTH:-}
  ${GW_CORS:-<cors origins='*'/>}
  <timeouts $GW_TIMEOUTS/>
  <limits $GW_LIMITS/>
  ${GW_BUFFERING:-}
$ROUTES
</gateway>
XML
	cat >"$T/conf/services.xml" <<XML
<services>
  <service name="course">
$INSTANCES
  </service>
${SERVICES_EXTRA:-}
</services>
XML
}

gateway_up() {
	API_PORT=${API_PORT:-$(free_port)}
	ADMIN_PORT=${ADMIN_PORT:-$(free_port)}
	gateway_conf
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml"
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz"
}

# http METHOD URL [curl args...]: body to $T/body, headers to $T/headers;
# prints the status code.
http() {
	m=$1
	u=$2
	shift 2
	curl -s -X "$m" -o "$T/body" -D "$T/headers" -w '%{http_code}' \
	    --max-time 20 "$@" "$u"
}

# json EXPR: evaluates a Python expression on the JSON in $T/body
# (bound to j) and prints the result.
json() {
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)' "$T/body" "$1"
}

# expect_eq ACTUAL EXPECTED
expect_eq() {
	if [ "$1" != "$2" ]; then
		printf 'expected [%s], got [%s]\n' "$2" "$1" >&2
		return 1
	fi
}

# raw PORT: sends stdin to 127.0.0.1:PORT as is, prints the reply.
raw() {
	python3 "$ROOT/t/helper/raw.py" "$@"
}

# loggrep FILE PATTERN: the pattern must appear in the log.
loggrep() {
	grep -E "$2" "$T/log/$1" >/dev/null || {
		printf 'no line matching [%s] in %s\n' "$2" "$1" >&2
		return 1
	}
}

# messaging

# The SMTP sink needs Debian's python3 (python3-aiosmtpd), whatever
# python3 comes first in PATH.
SMTP_PYTHON=${SMTP_PYTHON:-/usr/bin/python3}
SMTP_PORT=$(free_port)

# messaging_conf NAME SOCKET: writes conf/services/NAME.xml for
# elp-messaging: SMTP on $SMTP_PORT without TLS, the templates of conf/,
# a short poll; $MSG_OUTBOX (attributes of <outbox>) and $MSG_SMTP_TIMEOUT
# override the outbox and SMTP timing, $MSG_SMTP_SECURITY the tls, ca-file,
# username and password-file attributes of <smtp>.
messaging_conf() {
	msg_outbox=${MSG_OUTBOX:-"poll='100ms' lease='6s' max-attempts='5' backoff-base='200ms' backoff-max='1s'"}
	mkdir -p "$T/conf/services"
	cat >"$T/conf/services/$1.xml" <<XML
<service name="messaging">
  <log level="${MSG_LOG_LEVEL:-info}"/>
  <pool listen="unix:$2" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_messaging"
            user="elp_messaging" password-file="$T/var/secrets/db-messaging.pw"
            connect-timeout="1s" timeout="3s"/>
  <limits max-body="64k" max-page-size="100"/>
  <auth jwks-url="http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="http://127.0.0.1:$IDP_PORT/realms/e-learning-platform"
        audience="elp-api" refresh-min="1s"/>
  <idp base-url="http://127.0.0.1:$ADMIN_PORT" client-id="elp-messaging"
       secret-file="$T/var/secrets/auth-elp-messaging.secret" timeout="3s"/>
  <events role="messaging-service" admin-role="ADMIN" max-recipients="50"/>
  <smtp url="smtp://127.0.0.1:$SMTP_PORT/test.localhost" ${MSG_SMTP_SECURITY:-tls='none'}
        from="noreply@elp.test" from-name="E-Learning Platform"
        message-id-domain="elp.test" connect-timeout="1s"
        timeout="${MSG_SMTP_TIMEOUT:-5s}"/>
  <outbox $msg_outbox/>
  <templates dir="$ROOT/conf/templates/messaging"/>
</service>
XML
}

# messaging_up [NAME]: starts elp-messaging on run/NAME.sock and adds its
# routes (public API, internal API, health) to $ROUTES and its instance to
# $SERVICES_EXTRA; call it after auth_up, before gateway_up.
messaging_up() {
	n=${1:-messaging}
	messaging_conf "$n" "$T/run/$n.sock" &&
	spawn "$n" "$BIN/elp-messaging" -c "$T/conf/services/$n.xml" &&
	wait_for test -S "$T/run/$n.sock" || return 1
	ROUTES="$ROUTES
  <route listen='api' prefix='/messaging-api' service='messaging' rewrite='/messaging' auth='token'/>
  <route listen='admin' prefix='/internal/messaging' service='messaging' rewrite='/internal' auth='messaging-service'/>
  <route listen='admin' prefix='/health/messaging' service='messaging' rewrite='/health'/>"
	SERVICES_EXTRA="${SERVICES_EXTRA:-}
  <service name='messaging'>
    <instance address='unix:$T/run/$n.sock' maxconn='2'/>
  </service>"
}

# messaging_notify CLIENT: a <messaging> element for elp-course or elp-user
# posting as CLIENT (for $COURSE_EXTRA and the like).
messaging_notify() {
	printf '%s\n' "<messaging url=\"http://127.0.0.1:$ADMIN_PORT/internal/messaging\"
    token-url=\"http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/token\"
    client-id=\"$1\" secret-file=\"$T/var/secrets/auth-$1.secret\" timeout=\"3s\"/>"
}

# smtp_up [ARGS...]: starts t/helper/smtp-sink.py on $SMTP_PORT storing
# messages in $T/mail (ARGS: its behaviours); log in log/smtp.log.
smtp_up() {
	spawn smtp "$SMTP_PYTHON" "$ROOT/t/helper/smtp-sink.py" \
	    --port "$SMTP_PORT" --dir "$T/mail" "$@" &&
	wait_for grep -q "^LISTEN $SMTP_PORT" "$T/log/smtp.log"
}

# smtp_down: stops the sink started last (TERM, waited for).
smtp_down() {
	stop_pid "$pid_smtp"
}

# mail_ids: the Message-ID of every stored message, one per line, sorted
# (a message stored twice appears twice).
mail_ids() {
	for f in "$T"/mail/*.eml; do
		[ -f "$f" ] || continue
		sed -n 's/^Message-ID: *\(<[^>]*>\).*/\1/p' "$f" | tr -d '\r'
	done | sort
}

# svc_token CLIENT: a client-credentials access token of CLIENT.
svc_token() {
	curl -s -u "$1:$(head -n 1 "$T/var/secrets/auth-$1.secret")" \
	    -d grant_type=client_credentials \
	    "http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/token" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

# msg_sql SQL: runs SQL in elp_messaging as the server's admin account;
# rows tab-separated, no headers.
msg_sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" elp_messaging -N -B -e "$1"
}

# outbox_settled: true once no outbox row is pending.
outbox_settled() {
	[ "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")" = 0 ]
}

# wait_long SECONDS CMD...: like wait_for, for up to SECONDS.
wait_long() {
	wl_max=$(($1 * 10))
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt "$wl_max" ] || return 1
		sleep 0.1
	done
}

# confd

# confd_conf: writes conf/services/confd.xml for elp-confd on
# run/confd.sock: it watches $T/conf, publishes into var/confd, keeps
# leases in conf/leases.xml; $CONFD_LEASES: attributes of <leases>.
confd_conf() {
	mkdir -p "$T/conf/services" "$T/conf/profiles" "$T/var"
	cat >"$T/conf/services/confd.xml" <<XML
<service name="confd">
  <log level="${CONFD_LOG_LEVEL:-info}"/>
  <pool listen="unix:$T/run/confd.sock" workers="2" mode="0660" drain="5s"
        pidfile="$T/run/confd.pid"/>
  <auth jwks-url="http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs"
        issuer="http://127.0.0.1:$IDP_PORT/realms/e-learning-platform"
        audience="elp-api" refresh-min="1s"/>
  <publish dir=".." gateway="../gateway.xml" state="$T/var/confd"
           debounce="200ms"/>
  <leases file="../leases.xml" static="../services.xml" run-dir="$T/run"
          ${CONFD_LEASES:-}/>
</service>
XML
}

# confd_routes: adds elp-confd's admin routes to $ROUTES and its instance
# to $SERVICES_EXTRA; call before gateway_up.
confd_routes() {
	ROUTES="$ROUTES
  <route listen='admin' prefix='/config' service='confd'/>
  <route listen='admin' prefix='/registry' service='confd'/>
  <route listen='admin' prefix='/health/confd' service='confd' rewrite='/health'/>"
	SERVICES_EXTRA="${SERVICES_EXTRA:-}
  <service name='confd'>
    <instance address='unix:$T/run/confd.sock' maxconn='2'/>
  </service>"
}

# confd_up: starts elp-confd (confd_conf first) and waits for its socket
# and its first published version.
confd_up() {
	spawn confd "$BIN/elp-confd" -c "$T/conf/services/confd.xml" &&
	wait_for test -S "$T/run/confd.sock" &&
	wait_for grep -q 'lastGood\|lastRefused' "$T/var/confd/state.json"
}
