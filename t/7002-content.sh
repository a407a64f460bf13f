#!/bin/sh
# elp-content through the gateway with real tokens (docs/contract/api.md 4.5,
# 4.6): uploads of one and several files streamed to disk with their metadata,
# the types detected from the bytes (spoofing refused), limits, broken and
# interrupted uploads leaving nothing, a 200 MB upload with bounded memory in
# gateway and service, downloads served by the gateway (ranges, 304, types per
# path), traversal attempts, and the media rule for lecture videos asked of
# elp-course.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
JWKS=http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/protocol/openid-connect/certs
PW='Secr3t#pass'
STREAM_PORT=$(free_port)
M=$T/media
DEMO=$ROOT/fcgi-apps/content/demo-media
SEED=550e8400-e29b-41d4-a716-446655440002	# its lectures name the video

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

hdr() {	# hdr NAME: a header of the last response
	grep -i "^$1:" "$T/headers" | head -n 1 | cut -d: -f2- |
	    sed "s/^ *//; s/\r\$//"
}

# sql QUERY: runs it in elp_content as the server's admin account.
sql() {
	mariadb --no-defaults --socket="$T/var/mariadb/mysqld.sock" -uroot \
	    -N -B elp_content -e "$1"
}

# content_conf MAX_FILE MAX_FILES: writes the service's configuration.
content_conf() {
	cat >"$T/conf/services/content.xml" <<XML
<service name="content">
  <log level="info"/>
  <pool listen="unix:$T/run/content.sock" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_content"
            user="elp_content" password-file="$T/var/secrets/db-content.pw"
            connect-timeout="1s" timeout="5s"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" leeway="5s"
        refresh-min="1s"/>
  <storage root="$M" max-file="$1" max-request="220m" max-files="$2"
           types="image/jpeg image/png image/gif video/mp4"/>
  <media-access url="http://127.0.0.1:$ADMIN_PORT/internal/course/media/"
                timeout="2s" cache="${ACCESS_CACHE:-0}"/>
</service>
XML
}

# up TOKEN URL [curl args]: a multipart upload; prints the status.
up() {
	tok=$1 u=$2
	shift 2
	if [ -n "$tok" ]; then
		set -- -H "Authorization: Bearer $tok" "$@"
	fi
	http POST "$u" "$@"
}

# files: the stored files (no temporaries hidden or not).
files() {
	ls -A "$M" | sort
}

test_expect_success 'start MariaDB, elp-auth, elp-course, elp-content, gateway' '
	db_up && auth_up && mkdir -p "$M" && cp "$DEMO"/* "$M"/ &&
	SERVICES_EXTRA=$(printf "%s\n" "$SERVICES_EXTRA" | sed "s/maxconn=.4./maxconn=\"2\"/") &&
	cat >"$T/conf/services/course.xml" <<XML &&
<service name="course">
  <log level="info"/>
  <pool listen="unix:$T/run/course.sock" workers="2" mode="0660" drain="5s"/>
  <database socket="$T/var/mariadb/mysqld.sock" name="elp_course"
            user="elp_course" password-file="$T/var/secrets/db-course.pw"
            connect-timeout="1s" timeout="5s"/>
  <auth jwks-url="$JWKS" issuer="$ISS" audience="elp-api" leeway="5s"
        refresh-min="1s"/>
</service>
XML
	content_conf 210m 3 &&
	"$BIN/elp-content" -t -c "$T/conf/services/content.xml" &&
	spawn course "$BIN/elp-course" -c "$T/conf/services/course.xml" &&
	spawn content "$BIN/elp-content" -c "$T/conf/services/content.xml" &&
	wait_for test -S "$T/run/course.sock" &&
	wait_for test -S "$T/run/content.sock" &&
	INSTANCES="    <instance address=\"unix:$T/run/course.sock\" maxconn=\"2\"/>" &&
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"content\"><instance address=\"unix:$T/run/content.sock\" maxconn=\"2\"/></service>" &&
	ROUTES="$ROUTES
  <route listen=\"api\" prefix=\"/course-management-api\" service=\"course\" rewrite=\"/course\"/>
  <route listen=\"api\" prefix=\"/payment-management-api\" service=\"course\" rewrite=\"/payment\"/>
  <route listen=\"admin\" prefix=\"/internal/course\" service=\"course\" rewrite=\"/internal\"/>
  <route listen=\"api\" prefix=\"/content-management-api\" service=\"content\" rewrite=\"/content\" max-body=\"1000m\" request-buffering=\"off\" offload-root=\"$M\"/>
  <route listen=\"stream\" prefix=\"/content\" service=\"content\" max-body=\"1000m\" request-buffering=\"off\" offload-root=\"$M\"/>
  <route listen=\"stream\" prefix=\"/file-system-storage\" service=\"content\" offload-root=\"$M\"/>" \
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	GW_TIMEOUTS="header=\"5s\" body-idle=\"5s\" keepalive=\"30s\" connect=\"1s\" response=\"30s\" drain=\"5s\" queue=\"5s\"" \
	gateway_up &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	create_user user@example.com USER >"$T/user.id" &&
	create_user other@example.com USER >"$T/other.id"
'
A=http://127.0.0.1:$API_PORT
S=http://127.0.0.1:$STREAM_PORT
CM=$A/content-management-api
UID_=$(cat "$T/user.id" 2>/dev/null)
ADM=$(token admin@example.com)
USR=$(token user@example.com)
OTH=$(token other@example.com)
JPG=$DEMO/dummy-user1-photo.jpg
MP4=$DEMO/dummy-video-1.mp4

test_expect_success 'test files: a PNG, a GIF, and impostors' '
	python3 -c "
import struct, zlib
def chunk(t, d):
    return struct.pack(\">I\", len(d)) + t + d + struct.pack(\">I\", zlib.crc32(t + d))
raw = b\"\".join(b\"\\0\" + bytes([x * 8 % 256, 0, 128]) * 16 for x in range(16))
png = b\"\\x89PNG\\r\\n\\x1a\\n\" + chunk(b\"IHDR\", struct.pack(\">IIBBBBB\", 16, 16, 8, 2, 0, 0, 0)) + chunk(b\"IDAT\", zlib.compress(raw)) + chunk(b\"IEND\", b\"\")
open(\"$T/pic.png\", \"wb\").write(png)
" &&
	printf "GIF89a\001\000\001\000\200\000\000\000\000\000\377\377\377!\371\004\001\000\000\000\000,\000\000\000\000\001\000\001\000\000\002\002D\001\000;" >"$T/dot.gif" &&
	printf "#!/bin/sh\necho this is not a picture\n" >"$T/evil.jpg" &&
	printf "<html><body><script>alert(1)</script></body></html>\n" >"$T/page.png" &&
	: >"$T/empty.jpg" &&
	files >"$T/before"
'

test_expect_success 'upload without a token: 401, nothing read or stored' '
	expect_eq "$(up "" $CM -F "contents=@$JPG")" 401 &&
	expect_eq "$(msg)" "Missing access token" &&
	files | cmp - "$T/before"
'

test_expect_success 'one JPEG through the API port: 200, a generated name, stored byte-exact' '
	expect_eq "$(up "$USR" $CM -F "contents=@$JPG;filename=../../My Photo.JPG;type=text/plain")" 200 &&
	json "j[\"httpStatus\"]" | grep -qx OK &&
	U1=$(json "j[\"responseBody\"][\"urlList\"][0]") &&
	echo "$U1" | grep -Eqx "file-system-storage/[0-9a-f]{32}\.jpg" &&
	N1=${U1#file-system-storage/} &&
	cmp "$JPG" "$M/$N1" &&
	expect_eq "$(stat -c %a "$M/$N1")" 640
'

test_expect_success 'its metadata row: owner, client name, size, type, sha256' '
	sql "SELECT owner, original_name, size, mime, sha256 FROM file WHERE name = \"$N1\"" >"$T/row" &&
	printf "%s\t%s\t%s\t%s\t%s\n" "$UID_" "My Photo.JPG" "$(stat -c %s "$JPG")" image/jpeg "$(sha256sum "$JPG" | cut -c1-64)" | cmp - "$T/row"
'

test_expect_success 'three files on the stream port: URLs in part order, extensions from the bytes' '
	expect_eq "$(up "$ADM" $S/content -F "contents=@$T/pic.png;filename=a.jpg" -F "note=ignored" -F "contents=@$MP4;filename=b" -F "contents=@$T/dot.gif;filename=c.png")" 200 &&
	json "\"\\n\".join(j[\"responseBody\"][\"urlList\"])" >"$T/urls" &&
	expect_eq "$(wc -l <"$T/urls")" 3 &&
	sed -n 1p "$T/urls" | grep -Eqx "file-system-storage/[0-9a-f]{32}\.png" &&
	sed -n 2p "$T/urls" | grep -Eqx "file-system-storage/[0-9a-f]{32}\.mp4" &&
	sed -n 3p "$T/urls" | grep -Eqx "file-system-storage/[0-9a-f]{32}\.gif" &&
	cmp "$T/pic.png" "$M/$(sed -n 1p "$T/urls" | cut -d/ -f2)" &&
	cmp "$MP4" "$M/$(sed -n 2p "$T/urls" | cut -d/ -f2)" &&
	cmp "$T/dot.gif" "$M/$(sed -n 3p "$T/urls" | cut -d/ -f2)" &&
	expect_eq "$(sql "SELECT COUNT(*) FROM file WHERE original_name IN (\"a.jpg\", \"b\", \"c.png\")")" 3
'
files >"$T/before"
ROWS=$(sql "SELECT COUNT(*) FROM file")

# nothing_new: no file, no temporary and no row appeared.
nothing_new() {
	files | cmp - "$T/before" &&
	expect_eq "$(sql "SELECT COUNT(*) FROM file")" "$ROWS"
}

test_expect_success 'a script named .jpg and sent as image/jpeg: 415, nothing stored' '
	expect_eq "$(up "$USR" $CM -F "contents=@$T/evil.jpg;type=image/jpeg")" 415 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Unsupported file type text/x-shellscript" &&
	nothing_new
'

test_expect_success 'HTML named .png after a good file in the same upload: 415, neither stored' '
	expect_eq "$(up "$USR" $CM -F "contents=@$JPG" -F "contents=@$T/page.png;type=image/png")" 415 &&
	msg | grep -q "Unsupported file type text/html" &&
	nothing_new
'

test_expect_success 'a known type left out of <storage types> (WebP here): 415' '
	printf "RIFF\044\000\000\000WEBPVP8 \030\000\000\000\060\001\000\235\001\052\001\000\001\000\002\000\064\045\244\000\003\160\000\376\373\224\000\000" >"$T/x.webp" &&
	expect_eq "$(up "$USR" $CM -F "contents=@$T/x.webp")" 415 &&
	msg | grep -q "Unsupported file type image/webp" &&
	nothing_new
'

test_expect_success 'an empty part: 400, nothing stored' '
	expect_eq "$(up "$USR" $CM -F "contents=@$JPG" -F "contents=@$T/empty.jpg")" 400 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Please provide valid contents for upload!" &&
	nothing_new
'

test_expect_success 'no part named contents, and a body that is not multipart: 400' '
	expect_eq "$(up "$USR" $CM -F "file=@$JPG")" 400 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Please provide valid contents for upload!" &&
	expect_eq "$(up "$USR" $S/content -H "Content-Type: application/json" -d "{}")" 400 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Please provide valid contents for upload!" &&
	nothing_new
'

test_expect_success 'more files than max-files (3): 413' '
	expect_eq "$(up "$USR" $CM -F "contents=@$JPG" -F "contents=@$JPG" -F "contents=@$JPG" -F "contents=@$JPG")" 413 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: Too many files (limit 3 per upload)" &&
	nothing_new
'

test_expect_success 'a body declared over max-request: 413 before it is sent' '
	printf "POST /content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 300000000\r\n\r\n" "$USR" >"$T/req" &&
	python3 "$ROOT/t/helper/raw.py" "$STREAM_PORT" --idle 2 <"$T/req" >"$T/resp" &&
	head -n 1 "$T/resp" | grep -q "^HTTP/1.1 413" &&
	grep -q "File too large (limit 230686720 bytes)" "$T/resp" &&
	nothing_new
'

test_expect_success 'a truncated multipart body (no close delimiter): 400, nothing stored' '
	python3 -c "
import sys
b = open(\"$JPG\", \"rb\").read()
body = b\"--xyz\\r\\nContent-Disposition: form-data; name=\\\"contents\\\"; filename=\\\"t.jpg\\\"\\r\\n\\r\\n\" + b
sys.stdout.buffer.write(body)" >"$T/trunc.body" &&
	expect_eq "$(up "$USR" $CM -H "Content-Type: multipart/form-data; boundary=xyz" --data-binary "@$T/trunc.body")" 400 &&
	msg | grep -q "ended before its last part was complete" &&
	nothing_new
'

test_expect_success 'an upload cut off mid-file by the client: no file, no row, no temporary' '
	python3 - "$STREAM_PORT" "$USR" "$MP4" <<PY &&
import socket, sys, time
port, tok, mp4 = int(sys.argv[1]), sys.argv[2], sys.argv[3]
head = open(mp4, "rb").read()
part = (b"--cut\r\nContent-Disposition: form-data; name=\"contents\"; filename=\"cut.mp4\"\r\n\r\n" + head)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok.encode() +
          b"\r\nContent-Type: multipart/form-data; boundary=cut\r\nContent-Length: 50000000\r\n\r\n" + part)
chunk = b"\0" * 65536
for i in range(40):
    s.sendall(chunk)
time.sleep(0.5)
s.close()
PY
	sleep 1 &&
	nothing_new &&
	loggrep content.log "upload ended early" &&
	expect_eq "$(up "$USR" $CM -F "contents=@$T/dot.gif")" 200
'
files >"$T/before"
ROWS=$(sql "SELECT COUNT(*) FROM file")

test_expect_success 'download through the API port: bytes, type and validators from the gateway' '
	expect_eq "$(http GET "$CM/$U1")" 200 &&
	cmp "$JPG" "$T/body" &&
	expect_eq "$(hdr Content-Type)" image/jpeg &&
	expect_eq "$(hdr Content-Length)" "$(stat -c %s "$JPG")" &&
	expect_eq "$(hdr Accept-Ranges)" bytes &&
	expect_eq "$(hdr Cache-Control)" "public, max-age=300" &&
	hdr ETag | grep -q "^\"" &&
	hdr Last-Modified | grep -q "GMT\$" &&
	! grep -qi "^x-accel-redirect" "$T/headers"
'
ETAG=$(hdr ETag)
LM=$(hdr Last-Modified)

test_expect_success 'conditional GETs: 304 for If-None-Match and If-Modified-Since' '
	rm -f "$T/body" &&
	expect_eq "$(http GET "$CM/$U1" -H "If-None-Match: $ETAG")" 304 &&
	! test -s "$T/body" &&
	expect_eq "$(http GET "$CM/$U1" -H "If-Modified-Since: $LM")" 304 &&
	expect_eq "$(http GET "$CM/$U1" -H "If-None-Match: \"other\"")" 200
'

test_expect_success 'the same file on the stream port static path, and HEAD' '
	expect_eq "$(http GET "$S/$U1")" 200 && cmp "$JPG" "$T/body" &&
	expect_eq "$(curl -s -I -o /dev/null -w "%{http_code}" "$S/$U1")" 200
'

V=file-system-storage/dummy-video-1.mp4
VS=$S/content/stream/$V
VSIZE=$(stat -c %s "$MP4")

test_expect_success 'lecture video without a token: 401; another user not enrolled: 403' '
	expect_eq "$(http GET "$VS")" 401 &&
	expect_eq "$(msg)" "Missing access token" &&
	hdr WWW-Authenticate | grep -q "^Bearer" &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $OTH")" 403 &&
	expect_eq "$(msg)" "Access Denied" &&
	expect_eq "$(http GET "$CM/$V" -H "Authorization: Bearer $OTH")" 403 &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer not.a.token")" 401
'

test_expect_success 'an ADMIN streams it: video/mp4, byte-exact' '
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $ADM")" 200 &&
	cmp "$MP4" "$T/body" &&
	expect_eq "$(hdr Content-Type)" video/mp4 &&
	expect_eq "$(hdr Cache-Control)" "private, max-age=60"
'

test_expect_success 'the user pays, an ADMIN approves: now the user streams it' '
	expect_eq "$(http POST "$A/payment-management-api" -H "Authorization: Bearer $USR" -H "Content-Type: application/json" --data-binary "{\"courseId\":\"$SEED\",\"userId\":\"$UID_\",\"trxId\":\"TRX-C1\",\"paymentVendor\":\"BKash\",\"senderAccount\":\"017\",\"amount\":\"5000\"}")" 200 &&
	expect_eq "$(http POST "$A/payment-management-api/approval" -H "Authorization: Bearer $ADM" -H "Content-Type: application/json" --data-binary "{\"trxId\":\"TRX-C1\",\"status\":\"APPROVED\"}")" 200 &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR")" 200 &&
	cmp "$MP4" "$T/body"
'

test_expect_success 'a <video src> can carry the token as access_token (RFC 6750 2.3), kept out of the log' '
	expect_eq "$(http GET "$VS?access_token=$USR" -H "Range: bytes=100-199")" 206 &&
	tail -c +101 "$MP4" | head -c 100 | cmp - "$T/body" &&
	expect_eq "$(http GET "$VS?access_token=$OTH")" 403 &&
	expect_eq "$(http GET "$VS?access_token=not.a.token")" 401 &&
	hdr WWW-Authenticate | grep -q "invalid_token" &&
	expect_eq "$(http GET "$VS?access_token=")" 401 &&
	expect_eq "$(msg)" "Missing access token" &&
	loggrep access.log "access_token=REDACTED" &&
	! grep -qF "$USR" "$T/log/access.log" &&
	! grep -qF "$OTH" "$T/log/access.log"
'

test_expect_success 'ranges on the stream: first bytes, middle, suffix, open end' '
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR" -H "Range: bytes=0-99")" 206 &&
	head -c 100 "$MP4" | cmp - "$T/body" &&
	expect_eq "$(hdr Content-Range)" "bytes 0-99/$VSIZE" &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR" -H "Range: bytes=1000-1999")" 206 &&
	tail -c +1001 "$MP4" | head -c 1000 | cmp - "$T/body" &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR" -H "Range: bytes=-500")" 206 &&
	tail -c 500 "$MP4" | cmp - "$T/body" &&
	expect_eq "$(hdr Content-Range)" "bytes $((VSIZE - 500))-$((VSIZE - 1))/$VSIZE" &&
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR" -H "Range: bytes=60000-")" 206 &&
	tail -c +60001 "$MP4" | cmp - "$T/body"
'

test_expect_success 'a range beyond the end: 416 with the size' '
	expect_eq "$(http GET "$VS" -H "Authorization: Bearer $USR" -H "Range: bytes=$VSIZE-")" 416 &&
	expect_eq "$(hdr Content-Range)" "bytes */$VSIZE"
'

test_expect_success 'images on the stream path are application/octet-stream; banners are public' '
	expect_eq "$(http GET "$S/content/stream/file-system-storage/dummy-java-course-banner.jpg")" 200 &&
	expect_eq "$(hdr Content-Type)" application/octet-stream &&
	cmp "$DEMO/dummy-java-course-banner.jpg" "$T/body" &&
	expect_eq "$(http GET "$CM/file-system-storage/dummy-java-course-banner.jpg")" 200 &&
	expect_eq "$(hdr Content-Type)" image/jpeg
'

test_expect_success 'a missing file: the contract 404s' '
	expect_eq "$(http GET "$CM/file-system-storage/0123456789abcdef0123456789abcdef.jpg")" 404 &&
	expect_eq "$(msg)" "Failed to fetch the content! Reason: Error occurred while calling CONTENT-DELIVERY-SERVICE!" &&
	expect_eq "$(http GET "$S/content/stream/file-system-storage/nope.mp4")" 404 &&
	expect_eq "$(msg)" "File not found"
'

test_expect_success 'traversal, hidden, over-long and symlinked names: 404; NUL: 400' '
	printf "TOP-SECRET\n" >"$T/secret" &&
	ln -s "$T/secret" "$M/link.jpg" &&
	bad=0 &&
	for p in "..%2f..%2fconf%2fservices%2fcontent.xml" "%2e%2e" \
	    ".upload-x" "$(printf "%0200d" 0).jpg" "link.jpg" "a%2fb.jpg" \
	    "..%5c..%5csecret"; do
		code=$(http GET "$S/content/stream/file-system-storage/$p")
		echo "$p -> $code"
		[ "$code" = 404 ] && ! grep -q TOP-SECRET "$T/body" ||
		    bad=$((bad + 1))
	done &&
	expect_eq $bad 0 &&
	expect_eq "$(http GET "$S/content/stream/file-system-storage/a%00.jpg")" 400 &&
	expect_eq "$(http GET "$S/file-system-storage/../../etc/passwd" --path-as-is)" 404 &&
	rm "$M/link.jpg"
'

test_expect_success 'a client cannot send X-Accel-Redirect' '
	expect_eq "$(http GET "$CM/file-system-storage/dummy-java-course-banner.jpg" -H "X-Accel-Redirect: /dummy-video-1.mp4")" 200 &&
	cmp "$DEMO/dummy-java-course-banner.jpg" "$T/body"
'

test_expect_success '200 MB upload through the gateway' '
	{ cat "$MP4"; head -c 209715200 /dev/zero; } >"$T/big.mp4" &&
	expect_eq "$(up "$ADM" $CM -F "contents=@$T/big.mp4")" 200 &&
	BIG=$(json "j[\"responseBody\"][\"urlList\"][0]") &&
	cmp "$T/big.mp4" "$M/${BIG#file-system-storage/}" &&
	expect_eq "$(sql "SELECT sha256 FROM file WHERE name = \"${BIG#file-system-storage/}\"")" "$(sha256sum "$T/big.mp4" | cut -c1-64)"
'

test_expect_success 'memory stayed bounded: peak RSS of gateway and content workers under 64 MB' '
	kids="$(cat /proc/$pid_gateway/task/*/children) $(cat /proc/$pid_content/task/*/children)" &&
	for k in $kids; do grep VmHWM /proc/$k/status; done >"$T/hwm" &&
	cat "$T/hwm" && [ $(wc -l <"$T/hwm") -ge 3 ] &&
	expect_eq "$(awk "\$2 > 65536" "$T/hwm" | wc -l)" 0 &&
	rm -f "$T/big.mp4" "$M/${BIG#file-system-storage/}"
'
files >"$T/before"
ROWS=$(sql "SELECT COUNT(*) FROM file")

test_expect_success 'after a reload with max-file 1m: a 2 MB file gets 413 mid-stream, nothing stored' '
	content_conf 1m 3 && kill -HUP $pid_content &&
	wait_for loggrep content.log "reload: .* loaded" &&
	sleep 0.5 &&
	{ cat "$MP4"; head -c 2097152 /dev/zero; } >"$T/two.mp4" &&
	expect_eq "$(up "$USR" $CM -F "contents=@$T/two.mp4")" 413 &&
	expect_eq "$(msg)" "Failed to save contents in the file system! Reason: File too large (limit 1048576 bytes)" &&
	nothing_new &&
	expect_eq "$(up "$USR" $CM -F "contents=@$T/dot.gif")" 200
'

test_done
