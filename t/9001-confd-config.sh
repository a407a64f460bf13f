#!/bin/sh
# elp-confd's configuration service: GET /config/NAME/PROFILE merges
# conf/services/NAME.xml with conf/profiles/PROFILE.xml, answers with a
# strong ETag and 304 on If-None-Match, never serves a secret in clear;
# a service whose file holds <confd> runs with the fetched configuration,
# starts from its last good copy while elp-confd is down, and refuses to
# start with neither.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/var/secrets" "$T/var/cache" "$T/conf/boot" "$T/conf/profiles"
(umask 077 && echo 'sup3r-s3cret-pw' >"$T/var/secrets/db-course.pw")
course_conf course "$T/run/course.sock" 2
cat >"$T/conf/profiles/prod.xml" <<'XML'
<profile name="prod">
  <service name="course">
    <log level="warn"/>
    <pool workers="3"/>
    <limits max-page-size="7"/>
  </service>
</profile>
XML
cat >"$T/conf/profiles/dev.xml" <<'XML'
<profile name="dev"/>
XML
ROUTES="  <route listen='api' prefix='/course-management-api' service='course' rewrite='/course'/>"
confd_routes
confd_conf
gateway_conf
cat >"$T/conf/boot/course.xml" <<XML
<service name="course">
  <confd url="http://127.0.0.1:$ADMIN_PORT/config" profile="prod"
         cache="$T/var/cache/course.xml" timeout="1s"/>
</service>
XML
CFG=http://127.0.0.1:$ADMIN_PORT/config

# workers_are N: elp-course's master has N children: its workers and its
# background process (workers: the base file says 2, profile prod 3).
workers_are() {
	wait_for sh -c "test \$(ps -o pid= --ppid $pid_course | wc -l) -eq $1" ||
	    { ps -o pid,cmd --ppid "$pid_course"; return 1; }
}

test_expect_success 'elp-confd -t accepts its configuration' '
	"$BIN/elp-confd" -t -c "$T/conf/services/confd.xml"
'

test_expect_success 'elp-confd and the gateway start; a version is published' '
	confd_up &&
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	wait_for curl -sf "$CFG/status" &&
	loggrep confd.log "configuration version 1 .* published"
'

test_expect_success 'GET /config/course/prod: the profile overrides by element' '
	st=$(http GET "$CFG/course/prod") && expect_eq "$st" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"profile\"]")" prod &&
	c=$(json "j[\"responseBody\"][\"configuration\"][\"children\"]") &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"log\"][0][\"level\"]")" warn &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"pool\"][0][\"workers\"]")" 3 &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"pool\"][0][\"drain\"]")" 5s &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"limits\"][0][\"max-page-size\"]")" 7 &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"limits\"][0][\"max-body\"]")" 1m
'

test_expect_success 'GET /config/course/dev: the base file as it is' '
	st=$(http GET "$CFG/course/dev") && expect_eq "$st" 200 &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"log\"][0][\"level\"]")" info &&
	expect_eq "$(json "[e[\"attributes\"] for e in j[\"responseBody\"][\"configuration\"][\"children\"] if e[\"name\"]==\"pool\"][0][\"workers\"]")" 2
'

test_expect_success 'secrets stay file references: the password never appears' '
	http GET "$CFG/course/prod" >/dev/null &&
	grep -q "db-course.pw" "$T/body" &&
	! grep -q "sup3r-s3cret-pw" "$T/body"
'

test_expect_success 'strong ETag; If-None-Match answers 304 with no body' '
	st=$(http GET "$CFG/course/prod") && expect_eq "$st" 200 &&
	etag=$(tr -d "\r" <"$T/headers" | sed -n "s/^[Ee][Tt][Aa][Gg]: *//p") &&
	echo "etag [$etag]" && test -n "$etag" &&
	rm -f "$T/body" &&
	st=$(http GET "$CFG/course/prod" -H "If-None-Match: $etag") &&
	expect_eq "$st" 304 && test ! -s "$T/body" &&
	st=$(http GET "$CFG/course/prod" -H "If-None-Match: \"0000\"") &&
	expect_eq "$st" 200 &&
	st=$(http GET "$CFG/course/dev" -H "If-None-Match: $etag") &&
	expect_eq "$st" 200
'

test_expect_success 'unknown service or profile: 404 with errorBody' '
	st=$(http GET "$CFG/nosuch/prod") && expect_eq "$st" 404 &&
	json "j[\"errorBody\"][\"errorMessage\"]" | grep -q "Unknown" &&
	st=$(http GET "$CFG/course/nosuch") && expect_eq "$st" 404 &&
	st=$(http GET "$CFG/course/..") && test "$st" = 404 -o "$st" = 400
'

test_expect_success 'GET /config/status shows the last good version' '
	st=$(http GET "$CFG/status") && expect_eq "$st" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"current\"]")" good &&
	expect_eq "$(json "j[\"responseBody\"][\"lastGood\"][\"version\"]")" 1 &&
	json "j[\"responseBody\"][\"lastGood\"][\"time\"]" | grep -q "Z$"
'

test_expect_success 'the confd route is refused on a public listener (-t)' '
	sed "s|<route listen=.admin. prefix=./registry.|<route listen=\"api\" prefix=\"/registry\"|" \
	    "$T/conf/gateway.xml" >"$T/conf/gw-bad.xml" &&
	! "$BIN/elp-gateway" -t -c "$T/conf/gw-bad.xml" 2>"$T/log/gwbad.out" &&
	grep -q "gw-bad.xml:[0-9]*: route /registry: service confd only on an admin listener" "$T/log/gwbad.out"
'

test_expect_success 'a service with <confd> runs with the fetched configuration' '
	spawn course "$BIN/elp-course" -c "$T/conf/boot/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	loggrep course.log "configuration $CFG/course/prod checked and kept in $T/var/cache/course.xml" &&
	grep -q "max-page-size=\"7\"" "$T/var/cache/course.xml" &&
	workers_are 4 &&
	st=$(http GET "http://127.0.0.1:$API_PORT/course-management-api?pageNumber=0&limit=5") &&
	test "$st" != 502
'

test_expect_success 'with elp-confd down it starts from its last good copy' '
	stop_pid "$pid_course" && stop_pid "$pid_confd" &&
	: >"$T/log/course.log" &&
	spawn course "$BIN/elp-course" -c "$T/conf/boot/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	loggrep course.log "warn.*starting from the last good copy $T/var/cache/course.xml" &&
	workers_are 4 &&
	stop_pid "$pid_course"
'

test_expect_success 'with neither elp-confd nor a copy it refuses to start' '
	rm -f "$T/var/cache/course.xml" &&
	! "$BIN/elp-course" -c "$T/conf/boot/course.xml" 2>"$T/log/none.out" &&
	grep -q "no configuration: none from $CFG/course/prod and no last good copy" "$T/log/none.out"
'

test_done
