#!/bin/sh
# A service refuses to start on a database older than the program: with
# the last migration of elp-course missing, the pool master exits with
# status 78 at once, forks no worker and names the migration to run at
# error level; once scripts/db migrate applied it, the same configuration
# serves. A newer database (a migration the program does not know) and an
# unreachable one are no reason to refuse.
. "$(dirname "$0")/lib.sh"

LAST=0004-audit.sql
MSG="elp_course: schema is older than this program: run migration $LAST \\(scripts/db migrate\\)"

# sql QUERY: runs it in elp_course as the server's admin account.
sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" -N -B elp_course -e "$1"
}

# run_course LOG: runs elp-course in the foreground for at most 10 s;
# prints its exit status (124: still running, stopped by timeout).
run_course() {
	rc=0
	timeout -s TERM 10 "$BIN/elp-course" -c "$T/conf/services/course.xml" \
	    >>"$T/log/$1" 2>&1 || rc=$?
	echo "$rc"
}

test_expect_success 'start MariaDB with every migration applied' '
	db_up && course_conf course "$T/run/course.sock" 2 &&
	expect_eq "$(sql "SELECT MAX(version) FROM schema_migrations")" 4
'

test_expect_success 'last migration undone: elp-course exits 78 at once' '
	sql "DROP TABLE audit_event; ALTER TABLE payment DROP COLUMN decided_by, DROP COLUMN decided_at; DELETE FROM schema_migrations WHERE version = 4" &&
	start=$(date +%s) &&
	expect_eq "$(run_course old.log)" 78 &&
	test $(($(date +%s) - start)) -lt 5 &&
	test ! -S "$T/run/course.sock"
'

test_expect_success 'it names the migration and the command at error level' '
	loggrep old.log " error: $MSG" &&
	! loggrep old.log "worker"
'

test_expect_success 'two migrations missing: the first is named, the count said' '
	sql "DROP TABLE event_outbox" &&
	sql "DELETE FROM schema_migrations WHERE version = 3" &&
	expect_eq "$(run_course two.log)" 78 &&
	loggrep two.log "run migration 0003-event-outbox.sql" &&
	loggrep two.log "2 migration\\(s\\) missing"
'

test_expect_success 'after scripts/db migrate the same configuration serves' '
	ELP_VAR=$T/var "$ROOT/scripts/db" migrate >"$T/log/migrate.out" 2>&1 &&
	grep -q "applied $LAST" "$T/log/migrate.out" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	gateway_up &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/course-management-api")" 200 &&
	! loggrep course.log "schema is older"
'

test_expect_success 'a newer database: a warning, and it serves' '
	stop_pid "$pid_course" &&
	sql "INSERT INTO schema_migrations VALUES (9999, \"9999-from-the-future.sql\", REPEAT(\"0\", 64), UTC_TIMESTAMP(3))" &&
	: >"$T/log/course.log" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	loggrep course.log "warn: database has migration 9999-from-the-future.sql, which this program does not know" &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/course-management-api")" 200
'

test_expect_success 'database unreachable: not checked, serves 503 meanwhile' '
	stop_pid "$pid_course" && db_stop &&
	: >"$T/log/course.log" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	loggrep course.log "elp_course: schema version not checked: database unreachable" &&
	expect_eq "$(http GET "http://127.0.0.1:$API_PORT/course-management-api")" 503
'

test_done
