#!/bin/sh
# scripts/backup: a backup of a running stack (courses and users made
# through the API, a media file, the signing keys, the secrets) restored
# into a fresh private MariaDB and fresh directories named by another
# configuration holds the same tables (CHECKSUM TABLE), the same files
# byte for byte with their modes, and the services started on it answer
# as before, a token issued before the backup included. The archive is
# 0600 and never overwritten; an altered one is refused before anything
# is touched; a restore over non-empty targets needs --force.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
JWKS=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs
PW='Secr3t#pass'
A=http://127.0.0.1:$API_PORT
CM=$A/course-management-api
B=$T/backup.tar
BK=$ROOT/scripts/backup
ELP_BIN=$BIN	# the version in the MANIFEST is that of the programs tested
export ELP_BIN

create_user() {	# create_user EMAIL ROLE
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role "$2"
}

token() {	# token EMAIL
	curl -s -d grant_type=password -d client_id=admin-cli \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# sql VAR DB QUERY: runs QUERY in DB of the server of state dir VAR.
sql() {
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$1/mariadb/mysqld.sock" --user="$u" \
	    -N -B "$2" -e "$3"
}

# checksums VAR [COURSE_DB]: CHECKSUM TABLE of every table of the service
# databases, named as in the first stack.
checksums() {
	for db in elp_auth "${2:-elp_course}" elp_content; do
		for t in $(sql "$1" "$db" "SELECT table_name FROM information_schema.tables WHERE table_schema = '$db' ORDER BY table_name"); do
			sql "$1" "$db" "CHECKSUM TABLE \`$t\`" |
			    sed "s/^elp_crs\./elp_course./"
		done
	done
}

# exit_of OUT CMD...: runs CMD with its output in OUT; prints its status.
exit_of() {
	eo=$1
	shift
	"$@" >"$eo" 2>&1
	echo $?
}

# tree DIR: every file below DIR with its mode and checksum, sorted.
tree() {
	(cd "$1" && find . -type f -exec sh -c \
	    'for f; do printf "%s %s %s\n" "$f" "$(stat -c %a "$f")" "$(sha256sum <"$f" | cut -c 1-64)"; done' sh {} + |
	    sort)
}

# files VAR: media, keys and secrets of state dir VAR with their modes.
files() {
	echo media; tree "$1/media"
	echo keys; stat -c %a "$1/auth/keys"; tree "$1/auth/keys"
	echo secrets; tree "$1/secrets" |
	    grep -E "^./(db-(auth|course|content)\.pw|auth-.*\.secret) "
}

# content_conf: elp-content's configuration (storage root, database); the
# service need not run for its data to be backed up.
content_conf() {
	cat >"$T/conf/services/content.xml" <<XML
<service name="content">
  <log level="info"/>
  <pool listen="unix:$T/run/content.sock" workers="1" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_content"
            user="elp_content" password-file="$T/var/secrets/db-content.pw"
            connect-timeout="1s" timeout="5s"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api"/>
  <storage root="$T/var/media" max-file="10m" max-request="10m"
           max-files="2" types="image/jpeg image/png"/>
  <media-access url="http://127.0.0.1:$ADMIN_PORT/internal/course/media/"/>
</service>
XML
}

# services_up CONFDIR: elp-auth and elp-course of that configuration.
services_up() {
	spawn auth "$BIN/elp-auth" -c "$1/services/auth.xml" &&
	spawn course "$BIN/elp-course" -c "$1/services/course.xml" &&
	wait_for test -S "$T/run/auth.sock" &&
	wait_for test -S "$T/run/course.sock" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/health/auth" &&
	wait_for curl -sf "$CM"
}

services_down() {
	stop_pid "$pid_auth" && stop_pid "$pid_course" &&
	rm -f "$T/run/auth.sock" "$T/run/course.sock"
}

# answers TOKEN: what the API says about the data, with a token made
# before the backup.
answers() {
	http GET "$CM?pageNumber=0&limit=50" && echo && cat "$T/body" && echo &&
	http GET "$CM/$(cat "$T/course.id")" && echo && cat "$T/body" && echo &&
	http GET "$CM/enrollment/$(cat "$T/user.id")" \
	    -H "Authorization: Bearer $1" && echo && cat "$T/body" && echo &&
	http GET "$JWKS" && echo && cat "$T/body" && echo
}

test_expect_success 'a stack with data: users, a course, a media file, keys' '
	# Every client scripts/auth init makes a secret for, as shipped.
	AUTH_CLIENTS_EXTRA="    <client id=\"elp-content\" grants=\"client_credentials\"
            secret-file=\"$T/var/secrets/auth-elp-content.secret\"/>" &&
	db_up && auth_up && course_conf course "$T/run/course.sock" 2 &&
	content_conf && mkdir -p "$T/var/media" &&
	cp "$ROOT/fcgi-apps/content/demo-media/dummy-user1-photo.jpg" "$T/var/media/" &&
	printf "\000\001\377binary" >"$T/var/media/odd name.bin" &&
	chmod 640 "$T/var/media/odd name.bin" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"2\"/>" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	create_user user@example.com USER >"$T/user.id" &&
	TA=$(token admin@example.com) && test -n "$TA" &&
	expect_eq "$(http POST "$CM" -H "Authorization: Bearer $TA" \
	    -H "Content-Type: application/json" \
	    --data-binary "{\"courseName\":\"Backed up\",\"courseFee\":42}")" 201 &&
	json "j[\"responseBody\"][\"course\"][\"courseId\"]" >"$T/course.id" &&
	test -s "$T/var/auth/keys/keys.state"
'
TU=$(token user@example.com)

test_expect_success 'the answers before the backup' '
	test -n "$TU" && answers "$TU" >"$T/answers.before" &&
	grep -q "Backed up" "$T/answers.before" &&
	expect_eq "$(sed -n 5p "$T/answers.before")" 200
'

test_expect_success 'backup: one archive, mode 0600, a manifest with sums' '
	"$BK" -c "$T/conf" backup -o "$B" >"$T/log/backup.out" 2>&1 &&
	expect_eq "$(stat -c %a "$B")" 600 &&
	tar -tf "$B" >"$T/members" &&
	grep -qx "elp-backup/MANIFEST" "$T/members" &&
	tar -xOf "$B" elp-backup/MANIFEST >"$T/manifest" &&
	expect_eq "$(head -n 1 "$T/manifest")" "elp-backup	1" &&
	grep -q "^created	20[0-9][0-9]-" "$T/manifest" &&
	grep -q "^version	$("$BIN/elp-course" --version | cut -d " " -f 2)\$" "$T/manifest" &&
	grep -q "^schema	course	elp_course	4	0004-audit.sql\$" "$T/manifest" &&
	grep -q "^schema	auth	elp_auth	4	0004-admin-events.sql\$" "$T/manifest" &&
	for k in "db	course" "accounts	course" "db	auth" "db	content" \
	    "media	content" "keys	auth" "secret	course/database/password-file" "secret	auth/database/password-file" \
	    "secret	auth/client\\[elp-user\\]/secret-file"; do
		grep -q "^part	[^	]*	[0-9a-f]\\{64\\}	[0-7]*	[^	]*	$k\$" "$T/manifest" ||
		    { echo "no part $k" >&2; return 1; }
	done &&
	"$BK" verify "$B" >"$T/log/verify.out" 2>&1 &&
	grep -q "part(s) match the MANIFEST" "$T/log/verify.out"
'

test_expect_success 'no secret is printed, none is on a command line' '
	for f in "$T"/var/secrets/*; do
		! grep -qF "$(head -n 1 "$f")" "$T/log/backup.out" "$T/log/verify.out" ||
		    { echo "$f printed" >&2; return 1; }
	done &&
	! grep -n -- "--password" "$BK"
'

test_expect_success 'an existing archive is never overwritten' '
	sum=$(sha256sum <"$B") &&
	! "$BK" -c "$T/conf" backup -o "$B" 2>"$T/log/again.err" &&
	grep -q "exists; not overwriting" "$T/log/again.err" &&
	expect_eq "$(sha256sum <"$B")" "$sum"
'

test_expect_success 'restore into a fresh private MariaDB and directories' '
	services_down &&
	V2=$T/var2 && test_dbs="$test_dbs $V2" &&
	ELP_VAR=$V2 "$ROOT/scripts/db" init >"$T/log/db2.out" 2>&1 &&
	ELP_VAR=$V2 "$ROOT/scripts/db" start >>"$T/log/db2.out" 2>&1 &&
	mkdir -p "$T/conf2/services" && ln -s "$ROOT/conf/schema" "$T/conf2/schema" &&
	for f in auth course content; do
		sed "s|$T/var/|$T/var2/|g; s|name=\"elp_course\"|name=\"elp_crs\"|" \
		    "$T/conf/services/$f.xml" \
		    >"$T/conf2/services/$f.xml" || return 1
	done &&
	! grep -q "$T/var/" "$T"/conf2/services/*.xml &&
	"$BK" -c "$T/conf2" restore "$B" >"$T/log/restore.out" 2>&1 &&
	grep -q "restore: database elp_crs" "$T/log/restore.out" &&
	sql "$T/var2" elp_crs "SHOW GRANTS FOR elp_course@localhost" | grep -q "ON .elp_crs.\.\*"
'

test_expect_success 'every table has the same checksum' '
	checksums "$T/var" >"$T/sums.before" &&
	checksums "$T/var2" elp_crs >"$T/sums.after" &&
	grep -q "elp_course.course	[0-9]" "$T/sums.before" &&
	test "$(wc -l <"$T/sums.before")" -gt 8 &&
	diff "$T/sums.before" "$T/sums.after"
'

test_expect_success 'media, keys and secrets are byte-equal with their modes' '
	files "$T/var" >"$T/files.before" &&
	files "$T/var2" >"$T/files.after" &&
	grep -q "odd name.bin 640 " "$T/files.before" &&
	grep -q "keys.state 600 " "$T/files.before" &&
	grep -q "db-course.pw 600 " "$T/files.before" &&
	diff "$T/files.before" "$T/files.after"
'

test_expect_success 'services on the restored data give the same answers' '
	services_up "$T/conf2" &&
	answers "$TU" >"$T/answers.after" &&
	diff "$T/answers.before" "$T/answers.after" &&
	test -n "$(token user@example.com)"
'

test_expect_success 'an altered archive is refused before anything is touched' '
	mkdir "$T/x" && tar -C "$T/x" -xf "$B" &&
	sed -i "s/Backed up/Backed UP/" "$T/x/elp-backup/db/course.sql" &&
	tar -C "$T/x" -cf "$T/altered.tar" elp-backup &&
	checksums "$T/var2" elp_crs >"$T/sums.var2" &&
	expect_eq "$(exit_of "$T/log/altered.out" "$BK" -c "$T/conf2" restore --force "$T/altered.tar")" 3 &&
	grep -q "db/course.sql: checksum mismatch" "$T/log/altered.out" &&
	grep -q "refused" "$T/log/altered.out" &&
	! grep -q "restore: database" "$T/log/altered.out" &&
	checksums "$T/var2" elp_crs | diff "$T/sums.var2" - &&
	rm "$T/x/elp-backup/secrets/1" &&
	tar -C "$T/x" -cf "$T/short.tar" elp-backup &&
	expect_eq "$(exit_of "$T/log/short.err" "$BK" verify "$T/short.tar")" 3 && grep -q "secrets/1: part missing" "$T/log/short.err"
'

test_expect_success 'a restore over non-empty targets needs --force' '
	services_down &&
	expect_eq "$(exit_of "$T/log/busy.out" "$BK" -c "$T/conf2" restore "$B")" 4 &&
	grep -q "not empty: database elp_crs has [0-9]* table" "$T/log/busy.out" &&
	grep -q "not empty: media directory $T/var2/media" "$T/log/busy.out" &&
	grep -q "not empty: secret file $T/var2/secrets/db-auth.pw" "$T/log/busy.out" &&
	grep -q "restore refused: .*--force" "$T/log/busy.out" &&
	echo stray >"$T/var2/media/stray.jpg" &&
	sql "$T/var2" elp_crs "UPDATE course SET course_fee = course_fee + 1" &&
	"$BK" -c "$T/conf2" restore --force "$B" >"$T/log/force.out" 2>&1 &&
	test ! -e "$T/var2/media/stray.jpg" &&
	checksums "$T/var2" elp_crs | diff "$T/sums.before" - &&
	files "$T/var2" | diff "$T/files.before" - &&
	services_up "$T/conf2" &&
	answers "$TU" | diff "$T/answers.before" -
'

test_done
