#!/bin/sh
# Per-user upload quotas of elp-content (files and bytes per UTC day, 429
# with the limit and the reset time, counted transactionally, reset on the
# next day) and the sweep of stored files that nothing references (lists
# from elp-course and elp-user, the demo manifest, the grace period).
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
JWKS=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs
PW='Secr3t#pass'
M=$T/media
DEMO=$ROOT/fcgi-apps/content/demo-media
JPG=$DEMO/dummy-user1-photo.jpg
JPGSIZE=$(wc -c <"$JPG")

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

msg() {
	json 'j["errorBody"]["errorMessage"]'
}

sql() {	# sql DB QUERY: as the server's admin account
	if [ "$(id -u)" -eq 0 ]; then u=root; else u=$(id -un); fi
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" \
	    --user="$u" -N -B "$1" -e "$2"
}

# up TOKEN: uploads the JPEG; prints the status.
up() {
	http POST "$A/content-management-api" -H "Authorization: Bearer $1" \
	    -F "contents=@$JPG;type=image/jpeg"
}

stored() {	# stored: how many files the storage holds
	ls "$M" | wc -l
}

test_expect_success 'start MariaDB, elp-auth, elp-course, elp-user, elp-content, gateway' '
	db_up && auth_up && mkdir -p "$M" && cp "$DEMO"/* "$M"/ &&
	SERVICES_EXTRA=$(printf "%s\n" "$SERVICES_EXTRA" | sed "s/maxconn=.4./maxconn=\"2\"/") &&
	course_up course 2 &&
	cat >"$T/conf/services/user.xml" <<XML &&
<service name="user">
  <log level="info"/>
  <pool listen="unix:$T/run/user.sock" workers="1" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_user"
            user="elp_user" password-file="$T/var/secrets/db-user.pw"
            connect-timeout="1s" timeout="3s"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" refresh-min="1s"/>
  <idp base-url="http://127.0.0.1:$ADMIN_PORT" realm="e-learning-platform"
       client-id="elp-user" secret-file="$T/var/secrets/auth-elp-user.secret"
       timeout="3s"/>
</service>
XML
	printf "# kept\n\nkeep-me.jpg\n" >"$T/manifest" &&
	cat >"$T/conf/services/content.xml" <<XML &&
<service name="content">
  <log level="info"/>
  <pool listen="unix:$T/run/content.sock" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_content"
            user="elp_content" password-file="$T/var/secrets/db-content.pw"
            connect-timeout="1s" timeout="5s"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" leeway="5s"
        refresh-min="1s"/>
  <storage root="$M" types="image/jpeg image/png"/>
  <media-access url="http://127.0.0.1:$ADMIN_PORT/internal/course/media/"/>
  <quota files-per-day="3" bytes-per-day="$((JPGSIZE * 7 / 2))"/>
  <sweep refs="http://127.0.0.1:$ADMIN_PORT/internal/course/media-refs http://127.0.0.1:$ADMIN_PORT/internal/user/media-refs"
         manifest="$T/manifest" grace="10m" timeout="3s"/>
</service>
XML
	"$BIN/elp-content" -t -c "$T/conf/services/content.xml" &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	spawn content "$BIN/elp-content" -c "$T/conf/services/content.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	wait_for test -S "$T/run/content.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"2\"/>" &&
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"1\"/></service>
  <service name=\"content\"><instance address=\"unix:$T/run/content.sock\" maxconn=\"2\"/></service>" &&
	ROUTES="$ROUTES
  <route listen=\"admin\" prefix=\"/internal/course\" service=\"course\" rewrite=\"/internal\"/>
  <route listen=\"admin\" prefix=\"/internal/user\" service=\"user\" rewrite=\"/internal\"/>
  <route listen=\"api\" prefix=\"/content-management-api\" service=\"content\" rewrite=\"/content\" max-body=\"10m\" request-buffering=\"off\" offload-root=\"$M\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	create_user one@example.com USER >"$T/one.id" &&
	create_user two@example.com USER >"$T/two.id"
'
A=http://127.0.0.1:$API_PORT
ONE=$(token one@example.com)
TWO=$(token two@example.com)
TOMORROW=$(date -u -d tomorrow +%Y-%m-%d)

test_expect_success 'multipart without a boundary is 400 saying so' '
	expect_eq "$(http POST "$A/content-management-api" -H "Authorization: Bearer $ONE" \
	    -H "Content-Type: multipart/form-data" --data-binary x)" 400 &&
	expect_eq "$(msg)" "Content-Type multipart/form-data has no boundary parameter: the parts cannot be found" &&
	expect_eq "$(http POST "$A/content-management-api" -H "Authorization: Bearer $ONE" \
	    -H "Content-Type: multipart/form-data; charset=utf-8" --data-binary x)" 400 &&
	msg | grep -q "no boundary parameter"
'

test_expect_success 'count quota: three files a day, the fourth is 429 with limit and reset' '
	n0=$(stored) &&
	expect_eq "$(up "$ONE")" 200 && expect_eq "$(up "$ONE")" 200 &&
	expect_eq "$(up "$ONE")" 200 &&
	expect_eq "$(stored)" $((n0 + 3)) &&
	expect_eq "$(up "$ONE")" 429 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Upload quota exceeded: at most 3 files per day (3 used today); it resets at ${TOMORROW}T00:00:00Z" &&
	grep -qi "^retry-after: [0-9]" "$T/headers" &&
	expect_eq "$(stored)" $((n0 + 3)) &&
	expect_eq "$(sql elp_content "SELECT files, bytes FROM upload_quota WHERE owner = \"$(cat "$T/one.id")\"")" \
	    "$(printf "3\t%s" $((JPGSIZE * 3)))"
'

test_expect_success 'byte quota: the upload that passes it stores nothing' '
	n0=$(stored) &&
	cat "$JPG" "$JPG" "$JPG" >"$T/big.jpg" &&
	expect_eq "$(http POST "$A/content-management-api" -H "Authorization: Bearer $TWO" \
	    -F "contents=@$T/big.jpg;type=image/jpeg")" 200 &&
	expect_eq "$(up "$TWO")" 429 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Upload quota exceeded: at most $((JPGSIZE * 7 / 2)) bytes per day ($((JPGSIZE * 3)) used today); it resets at ${TOMORROW}T00:00:00Z" &&
	expect_eq "$(stored)" $((n0 + 1)) &&
	expect_eq "$(sql elp_content "SELECT COUNT(*) FROM file WHERE owner = \"$(cat "$T/two.id")\"")" 1
'

test_expect_success 'concurrent uploads of one user never pass the count together' '
	sql elp_content "DELETE FROM upload_quota" &&
	n0=$(stored) &&
	pids= &&
	for i in 1 2 3 4 5 6; do
		curl -s -o /dev/null -w "%{http_code}\n" -H "Authorization: Bearer $ONE" \
		    -F "contents=@$JPG;type=image/jpeg" "$A/content-management-api" >"$T/par.$i" &
		pids="$pids $!"
	done && wait $pids &&
	expect_eq "$(cat "$T"/par.* | grep -c 200)" 3 &&
	expect_eq "$(cat "$T"/par.* | grep -c 429)" 3 &&
	expect_eq "$(stored)" $((n0 + 3))
'

test_expect_success 'the quota resets with the day' '
	sql elp_content "UPDATE upload_quota SET day = day - INTERVAL 1 DAY" &&
	expect_eq "$(up "$ONE")" 200 &&
	expect_eq "$(sql elp_content "SELECT COUNT(*) FROM upload_quota WHERE day = UTC_DATE()")" 1
'

test_expect_success 'sweep: keeps referenced, manifest and young files, removes old unreferenced ones' '
	for f in banner lecture photo orphan keep-me young; do
		cp "$JPG" "$M/$f.jpg" || return 1
	done &&
	sql elp_content "INSERT INTO file (name, owner, size, mime, sha256) VALUES (\"orphan.jpg\", \"$(cat "$T/one.id")\", 1, \"image/jpeg\", \"$(printf %064d 0)\")" &&
	sql elp_course "UPDATE course SET image_url = \"file-system-storage/banner.jpg\" LIMIT 1" &&
	sql elp_course "UPDATE course_content SET content_url = \"file-system-storage/lecture.jpg\" LIMIT 1" &&
	sql elp_user "INSERT INTO \`user\` (user_id, image_url) VALUES (\"$(cat "$T/one.id")\", \"file-system-storage/photo.jpg\")" &&
	for f in banner lecture photo orphan keep-me; do
		touch -d "-1 hour" "$M/$f.jpg" || return 1
	done &&
	touch -d "-1 hour" "$M"/*.jp*g "$M"/*.mp4 &&
	touch "$M/young.jpg" &&
	"$BIN/elp-content" -c "$T/conf/services/content.xml" sweep 2>"$T/sweep.err" &&
	for f in banner lecture photo keep-me young; do
		test -f "$M/$f.jpg" || { echo "$f removed"; return 1; }
	done &&
	! test -e "$M/orphan.jpg" &&
	expect_eq "$(sql elp_content "SELECT COUNT(*) FROM file WHERE name = \"orphan.jpg\"")" 0 &&
	grep -q "removed orphan.jpg" "$T/sweep.err" &&
	# The uploads of the tests above are referenced by nothing and old now.
	expect_eq "$(ls "$M" | grep -c "^[0-9a-f]\{32\}\.jpg")" 0 &&
	test -f "$M/dummy-video-1.mp4"
'

test_expect_success 'sweep: a reference list that cannot be read removes nothing' '
	cp "$JPG" "$M/orphan2.jpg" && touch -d "-1 hour" "$M/orphan2.jpg" &&
	sed "s|/internal/user/media-refs|/internal/nobody/media-refs|" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-bad.xml" &&
	! "$BIN/elp-content" -c "$T/conf/services/content-bad.xml" sweep 2>"$T/sweep2.err" &&
	grep -q "nothing removed" "$T/sweep2.err" &&
	test -f "$M/orphan2.jpg"
'

test_done
