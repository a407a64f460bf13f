#!/bin/sh
# Per-user upload quotas of elp-content (files and bytes per UTC day, 429
# with the limit and the reset time, counted transactionally, reset on the
# next day) and the sweep of stored files that nothing references (lists
# from elp-course and elp-user, the demo manifest, the grace period): the
# lists' keyset pages (GET /internal/media-refs?after=&limit=: byte order,
# next, bounds), the sweep following them (a file named only on a later
# page stays; a later page that breaks, from t/helper/refs-peer.py, or a
# list longer than max-pages removes nothing).
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

# refs_walk URL LIMIT: follows the pages of reference list URL (limit
# LIMIT) to the end and prints the names, one a line. Fails when a page
# is not 200, holds more than LIMIT names, names out of byte order or not
# after the last page's, or a next other than its last name (null only on
# the last page, i.e. when a further page would be empty); prints the page
# count to $T/pages.
refs_walk() {
	python3 - "$1" "$2" "$T/pages" <<'PY'
import json, sys, urllib.request
url, limit, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
after, names, pages = None, [], 0
while True:
    q = "%s?limit=%d" % (url, limit) + ("&after=" + after if after else "")
    with urllib.request.urlopen(q, timeout=10) as r:
        page = json.load(r)["responseBody"]
    pages += 1
    files, nxt = page["files"], page["next"]
    assert len(files) <= limit, (q, files)
    for f in files:
        assert (names[-1].encode() if names else b"") < f.encode(), (q, f)
        names.append(f)
    if nxt is None:
        break
    assert files and nxt == files[-1], (q, page)
    after = nxt
    assert pages < 1000, "runaway"
open(out, "w").write("%d\n" % pages)
print("\n".join(names))
PY
}

# refs_expect DB QUERY: the media names of the stored URLs QUERY selects,
# distinct, in byte order (docs: media_name_ok), one a line.
refs_expect() {
	sql "$1" "$2" | python3 -c '
import re, sys
p = "file-system-storage/"
ok = set()
for u in sys.stdin.read().split("\n"):
    n = u[len(p):]
    if u.startswith(p) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", n) and ".." not in n:
        ok.add(n)
print("\n".join(sorted(ok, key=str.encode)))'
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
	"$BIN/elp-content" -c "$T/conf/services/content.xml" sweep 2>"$T/log/sweep.log" &&
	for f in banner lecture photo keep-me young; do
		test -f "$M/$f.jpg" || { echo "$f removed"; return 1; }
	done &&
	! test -e "$M/orphan.jpg" &&
	expect_eq "$(sql elp_content "SELECT COUNT(*) FROM file WHERE name = \"orphan.jpg\"")" 0 &&
	grep -q "removed orphan.jpg" "$T/log/sweep.log" &&
	# The uploads of the tests above are referenced by nothing and old now.
	expect_eq "$(ls "$M" | grep -c "^[0-9a-f]\{32\}\.jpg")" 0 &&
	test -f "$M/dummy-video-1.mp4"
'

test_expect_success 'sweep: a reference list that cannot be read removes nothing' '
	cp "$JPG" "$M/orphan2.jpg" && touch -d "-1 hour" "$M/orphan2.jpg" &&
	sed "s|/internal/user/media-refs|/internal/nobody/media-refs|" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-bad.xml" &&
	! "$BIN/elp-content" -c "$T/conf/services/content-bad.xml" sweep 2>"$T/log/sweep2.log" &&
	grep -q "nothing removed" "$T/log/sweep2.log" &&
	test -f "$M/orphan2.jpg"
'

R=http://127.0.0.1:$ADMIN_PORT/internal

test_expect_success 'media-refs of elp-course: keyset pages in byte order, distinct across banners and lectures' '
	C1=$(sql elp_course "SELECT course_id FROM course ORDER BY seq LIMIT 1") &&
	sql elp_course "INSERT INTO course (course_id, course_name, image_url) VALUES
	    (UUID(), \"r1\", \"file-system-storage/Zeta.jpg\"),
	    (UUID(), \"r2\", \"file-system-storage/shared.jpg\"),
	    (UUID(), \"r3\", \"file-system-storage/bad..jpg\"),
	    (UUID(), \"r4\", \"http://elsewhere/x.jpg\"),
	    (UUID(), \"r5\", NULL)" &&
	sql elp_course "INSERT INTO course_content (content_id, course_id, content_url) VALUES
	    (UUID(), \"$C1\", \"file-system-storage/shared.jpg\"),
	    (UUID(), \"$C1\", \"file-system-storage/zeta.jpg\"),
	    (UUID(), \"$C1\", \"file-system-storage/Shared.jpg\"),
	    (UUID(), \"$C1\", \"file-system-storage/a_b-c.1.jpg\"),
	    (UUID(), \"$C1\", \"file-system-storage/.hidden.jpg\"),
	    (UUID(), \"$C1\", \"file-system-storage/zz-late.jpg\")" &&
	refs_expect elp_course "SELECT image_url FROM course UNION ALL SELECT content_url FROM course_content" >"$T/course.want" &&
	n=$(wc -l <"$T/course.want") && test "$n" -ge 8 &&
	for lim in 1 2 3 1000; do
		refs_walk "$R/course/media-refs" $lim >"$T/course.got" &&
		diff -u "$T/course.want" "$T/course.got" &&
		expect_eq "$(cat "$T/pages")" $(( (n + lim - 1) / lim )) || return 1
	done &&
	for f in Zeta.jpg zeta.jpg Shared.jpg shared.jpg a_b-c.1.jpg zz-late.jpg; do
		expect_eq "$(grep -cx "$f" "$T/course.got")" 1 || return 1
	done &&
	! grep -q -e bad -e hidden -e elsewhere "$T/course.got" &&
	first=$(sed -n 1p "$T/course.got") && second=$(sed -n 2p "$T/course.got") &&
	expect_eq "$(http GET "$R/course/media-refs?limit=2")" 200 &&
	expect_eq "$(json "j[\"responseBody\"]")" "{\"files\": [\"$first\", \"$second\"], \"next\": \"$second\"}" &&
	expect_eq "$(http GET "$R/course/media-refs?after=$first&limit=1")" 200 &&
	expect_eq "$(json "j[\"responseBody\"]")" "{\"files\": [\"$second\"], \"next\": \"$second\"}" &&
	expect_eq "$(http GET "$R/course/media-refs?after=zz-late.jpg")" 200 &&
	expect_eq "$(json "j[\"responseBody\"]")" "{\"files\": [], \"next\": null}"
'

test_expect_success 'media-refs of elp-user: keyset pages of the profile pictures, each name once' '
	sql elp_user "INSERT INTO \`user\` (user_id, image_url) VALUES
	    (UUID(), \"file-system-storage/u-b.jpg\"), (UUID(), \"file-system-storage/u-b.jpg\"),
	    (UUID(), \"file-system-storage/U-a.jpg\"), (UUID(), \"file-system-storage/zz-photo.jpg\"),
	    (UUID(), \"file-system-storage/no good.jpg\"), (UUID(), NULL)" &&
	refs_expect elp_user "SELECT image_url FROM \`user\`" >"$T/user.want" &&
	n=$(wc -l <"$T/user.want") && test "$n" -ge 4 &&
	for lim in 1 2 1000; do
		refs_walk "$R/user/media-refs" $lim >"$T/user.got" &&
		diff -u "$T/user.want" "$T/user.got" &&
		expect_eq "$(cat "$T/pages")" $(( (n + lim - 1) / lim )) || return 1
	done &&
	expect_eq "$(grep -cx u-b.jpg "$T/user.got")" 1 &&
	grep -qx U-a.jpg "$T/user.got" && grep -qx zz-photo.jpg "$T/user.got" &&
	! grep -q "no good" "$T/user.got" &&
	expect_eq "$(http GET "$R/user/media-refs?limit=1")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"next\"]")" "$(sed -n 1p "$T/user.got")"
'

test_expect_success 'media-refs: a bad limit or after is 400 with the error envelope' '
	long=$(printf "a%0128d" 0) &&
	for svc in course user; do
		for q in limit=0 limit=10001 limit=-1 limit=x limit= "limit=1%00"; do
			expect_eq "$(http GET "$R/$svc/media-refs?$q")" 400 &&
			expect_eq "$(msg)" "Invalid value for limit: must be an integer from 1 to 10000" &&
			expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 400 || return 1
		done &&
		for q in after=bad..jpg after=.x "after=a%2Fb" after= "after=$long" "after=a%0A"; do
			expect_eq "$(http GET "$R/$svc/media-refs?$q")" 400 &&
			expect_eq "$(msg)" "Invalid value for after: not a media file name" || return 1
		done &&
		expect_eq "$(http GET "$R/$svc/media-refs?limit=10000&after=${long#a}")" 200 &&
		expect_eq "$(http GET "$R/$svc/media-refs?limit=1&after=a")" 200 || return 1
	done
'

test_expect_success 'sweep in pages: a file named only on a later page stays, unreferenced ones go' '
	for f in zz-late zz-photo Zeta zeta Shared orphan3; do
		cp "$JPG" "$M/$f.jpg" && touch -d "-1 hour" "$M/$f.jpg" || return 1
	done &&
	# zz-late.jpg is on page 5 of 2 names (see the test above).
	expect_eq "$(grep -n -x zz-late.jpg "$T/course.got" | cut -d: -f1)" "$(wc -l <"$T/course.got")" &&
	sed "s|<sweep |<sweep page-size=\"2\" max-pages=\"2\" |" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-short.xml" &&
	"$BIN/elp-content" -t -c "$T/conf/services/content-short.xml" &&
	! "$BIN/elp-content" -c "$T/conf/services/content-short.xml" sweep 2>"$T/log/sweep3.log" &&
	grep -q "more than 2 pages (<sweep max-pages>); nothing removed" "$T/log/sweep3.log" &&
	test -f "$M/orphan3.jpg" &&
	sed "s|<sweep |<sweep page-size=\"2\" |" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-paged.xml" &&
	"$BIN/elp-content" -c "$T/conf/services/content-paged.xml" sweep 2>"$T/log/sweep4.log" &&
	for f in zz-late zz-photo Zeta zeta Shared; do
		test -f "$M/$f.jpg" || { echo "$f removed"; return 1; }
	done &&
	! test -e "$M/orphan3.jpg" && grep -q "removed orphan3.jpg" "$T/log/sweep4.log" &&
	grep -q "/internal/course/media-refs?limit=2&after=zeta.jpg" "$T/log/access.log" &&
	grep -q "/internal/user/media-refs?limit=2&after=" "$T/log/access.log"
'

test_expect_success 'sweep: page-size and max-pages out of bounds are refused with file:line' '
	sed "s|<sweep |<sweep page-size=\"10001\" max-pages=\"0\" |" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-bounds.xml" &&
	! "$BIN/elp-content" -t -c "$T/conf/services/content-bounds.xml" 2>"$T/log/bounds.log" &&
	grep -q "content-bounds.xml:[0-9]*:.*page-size" "$T/log/bounds.log" &&
	grep -q "content-bounds.xml:[0-9]*:.*max-pages" "$T/log/bounds.log"
'

PEER_PORT=$(free_port)
test_expect_success 'sweep: a later page that fails, is malformed or does not advance removes nothing' '
	spawn peer python3 "$ROOT/t/helper/refs-peer.py" "$PEER_PORT" "$T/peer.log" &&
	wait_for curl -sf "http://127.0.0.1:$PEER_PORT/good?limit=2" &&
	for f in orphan4 peer-1 peer-3; do
		cp "$JPG" "$M/$f.jpg" && touch -d "-1 hour" "$M/$f.jpg" || return 1
	done &&
	for fault in status garbage stuck skip unsorted nonext toomany; do
		sed "s|<sweep refs=\"|<sweep page-size=\"2\" refs=\"http://127.0.0.1:$PEER_PORT/$fault |" \
		    "$T/conf/services/content.xml" >"$T/conf/services/content-$fault.xml" &&
		! "$BIN/elp-content" -c "$T/conf/services/content-$fault.xml" sweep 2>"$T/log/sweep-$fault.log" &&
		grep -q "reference list http://127.0.0.1:$PEER_PORT/$fault?limit=2&after=peer-2.jpg: .*nothing removed" "$T/log/sweep-$fault.log" &&
		test -f "$M/orphan4.jpg" || { echo "$fault"; return 1; }
	done &&
	grep -q "not 200 (status 500)" "$T/log/sweep-status.log" &&
	grep -q "not JSON" "$T/log/sweep-garbage.log" &&
	grep -q "next is missing or not the last name" "$T/log/sweep-nonext.log" &&
	grep -q "next is missing or not the last name" "$T/log/sweep-stuck.log" &&
	grep -q "next is missing or not the last name" "$T/log/sweep-skip.log" &&
	grep -q "not after the one before" "$T/log/sweep-unsorted.log" &&
	grep -q "more names than asked for" "$T/log/sweep-toomany.log" &&
	sed "s|<sweep refs=\"|<sweep page-size=\"2\" refs=\"http://127.0.0.1:$PEER_PORT/good |" \
	    "$T/conf/services/content.xml" >"$T/conf/services/content-good.xml" &&
	"$BIN/elp-content" -c "$T/conf/services/content-good.xml" sweep 2>"$T/log/sweep-good.log" &&
	! test -e "$M/orphan4.jpg" && test -f "$M/peer-1.jpg" && test -f "$M/peer-3.jpg"
'

test_done
