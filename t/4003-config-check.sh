#!/bin/sh
# -t finds every configuration error in one run, each as file:line:
# ports out of range, duplicate listener addresses, unknown services,
# missing secret files, bad URLs, missing ca-files of the HTTP clients,
# and semantic errors next to schema errors; a valid file is still
# accepted.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/conf/services" "$T/secrets"
printf '0123456789abcdefgh\n' >"$T/secrets/db.pw"
chmod 600 "$T/secrets/db.pw"

# gw FILE ROUTES LISTENERS: a gateway config and its registry.
gw() {
	cat >"$T/conf/$1" <<XML
<gateway workers="1" registry="services.xml">
  <log level="info" error="$T/log/gateway.log"/>
$3
$2
</gateway>
XML
}
cat >"$T/conf/services.xml" <<XML
<services>
  <service name="course">
    <instance address="unix:$T/run/course.sock"/>
  </service>
</services>
XML

# svc FILE EXTRA: a course service config.
svc() {
	cat >"$T/conf/services/$1" <<XML
<service name="course">
  <log level="info"/>
  <pool listen="${POOL:-unix:$T/run/course.sock}" workers="1"/>
  <database socket="$T/db.sock" name="elp_course" user="elp_course"
            password-file="${PW:-$T/secrets/db.pw}"/>
  <auth jwks-url="${JWKS:-http://127.0.0.1:9/certs}"
        issuer="http://127.0.0.1:9/realms/x" audience="elp-api"/>
$2
</service>
XML
}

L1="  <listen name=\"api\" address=\"127.0.0.1:$API_PORT\"/>"
R1="  <route listen=\"api\" prefix=\"/c\" service=\"course\"/>"

# gwcheck FILE: runs elp-gateway -t, expects failure, stderr to $T/err.
gwcheck() {
	! "$BIN/elp-gateway" -t -c "$T/conf/$1" 2>"$T/err" || return 1
	cat "$T/err"
}
svccheck() {
	! "$BIN/elp-course" -t -c "$T/conf/services/$1" 2>"$T/err" ||
	    return 1
	cat "$T/err"
}

test_expect_success 'valid gateway and service configs are accepted' '
	gw ok.xml "$R1" "$L1" &&
	"$BIN/elp-gateway" -t -c "$T/conf/ok.xml" &&
	svc ok.xml "" &&
	"$BIN/elp-course" -t -c "$T/conf/services/ok.xml"
'

test_expect_success 'gateway: bad ports, a duplicate address, an unknown service, all at once' '
	gw bad.xml "$R1
  <route listen=\"api\" prefix=\"/n\" service=\"nosuch\"/>" "$L1
  <listen name=\"big\" address=\"127.0.0.1:99999\"/>
  <listen name=\"word\" address=\"127.0.0.1:http\"/>
  <listen name=\"dup\" address=\"127.0.0.1:$API_PORT\"/>" &&
	gwcheck bad.xml &&
	grep -q "bad.xml:4: address: port \"99999\" .* 1..65535" "$T/err" &&
	grep -q "bad.xml:5: address: port \"http\"" "$T/err" &&
	grep -q "bad.xml:6: listener \"dup\": address .* already used by listener \"api\"" "$T/err" &&
	grep -q "bad.xml:8: route /n: service \"nosuch\" is not in the registry" "$T/err" &&
	grep -q " error: .*bad.xml: configuration refused" "$T/err" &&
	! grep -q " warn: " "$T/err"
'

test_expect_success 'gateway: <auth service> unknown is reported with its line' '
	gw auth.xml "$R1" "$L1
  <auth service=\"idp\" issuer=\"http://x/realms/y\"/>" &&
	gwcheck auth.xml &&
	grep -q "auth.xml:4: auth: service \"idp\" is not in the registry" "$T/err"
'

test_expect_success 'registry: an instance port out of range' '
	sed "s|unix:$T/run/course.sock|127.0.0.1:0|" "$T/conf/services.xml" >"$T/conf/s2.xml" &&
	cp "$T/conf/services.xml" "$T/conf/s1.xml" && cp "$T/conf/s2.xml" "$T/conf/services.xml" &&
	gw reg.xml "$R1" "$L1" &&
	gwcheck reg.xml; rc=$?; cp "$T/conf/s1.xml" "$T/conf/services.xml"; [ $rc = 0 ] &&
	grep -q "services.xml:3: address: port \"0\"" "$T/err"
'

test_expect_success 'gateway: a schema error and a semantic error are both reported' '
	gw both.xml "$R1
  <route listen=\"api\" prefix=\"/n\" service=\"nosuch\"/>" "$L1
  <timeouts bogus=\"1\"/>
  <listen name=\"big\" address=\"127.0.0.1:70000\"/>" &&
	gwcheck both.xml &&
	grep -q "both.xml:4: .*bogus" "$T/err" &&
	grep -q "both.xml:5: address: port \"70000\"" "$T/err" &&
	grep -q "both.xml:7: route /n: service \"nosuch\"" "$T/err"
'

test_expect_success 'service: missing password file, bad jwks-url, bad listen port, all at once' '
	POOL=127.0.0.1:65536 PW=$T/secrets/none.pw JWKS=htp:/x/certs svc bad.xml "" &&
	svccheck bad.xml &&
	grep -q "bad.xml:3: listen: port \"65536\" .* 1..65535" "$T/err" &&
	grep -q "bad.xml:5: password-file: \"$T/secrets/none.pw\": No such file" "$T/err" &&
	grep -q "bad.xml:7: jwks-url: \"htp:/x/certs\" is not a URL with scheme http https" "$T/err" &&
	grep -q "bad.xml: 3 error(s), configuration refused" "$T/err"
'

test_expect_success 'service: URL host and port, messaging secret-file' '
	svc url.xml "  <messaging url=\"http://:80/m\" token-url=\"https://idp:0/t\"
             client-id=\"elp-course\" secret-file=\"$T/secrets/none.secret\"/>" &&
	svccheck url.xml &&
	grep -q "url.xml:9: url: \"http://:80/m\" names no valid host" "$T/err" &&
	grep -q "url.xml:9: token-url: \"https://idp:0/t\": port \"0\"" "$T/err" &&
	grep -q "url.xml:9: secret-file: \"$T/secrets/none.secret\"" "$T/err"
'

test_expect_success 'service: a schema error does not hide a semantic one' '
	PW=$T/secrets/none.pw svc both.xml "  <bogus/>" &&
	svccheck both.xml &&
	grep -q "both.xml:8: .*bogus" "$T/err" &&
	grep -q "both.xml:5: password-file: .*No such file" "$T/err"
'

test_expect_success 'service: an HTTP client ca-file must exist; an existing one passes' '
	svc ca.xml "  <messaging url=\"https://127.0.0.1:9/m\" token-url=\"https://127.0.0.1:9/t\" client-id=\"elp-course\" secret-file=\"$T/secrets/db.pw\" ca-file=\"$T/secrets/none.pem\"/>" &&
	svccheck ca.xml &&
	grep -q "ca.xml:8: ca-file: \"$T/secrets/none.pem\": No such file" "$T/err" &&
	grep -q "ca.xml: 1 error(s), configuration refused" "$T/err" &&
	svc ca-ok.xml "  <messaging url=\"https://127.0.0.1:9/m\" token-url=\"https://127.0.0.1:9/t\"
             client-id=\"elp-course\" secret-file=\"$T/secrets/db.pw\"
             ca-file=\"$T/secrets/db.pw\"/>" &&
	sed -i "s|audience=\"elp-api\"/>|audience=\"elp-api\" ca-file=\"$T/secrets/db.pw\"/>|" \
	    "$T/conf/services/ca-ok.xml" &&
	grep -q "ca-file=\"$T/secrets/db.pw\"/>" "$T/conf/services/ca-ok.xml" &&
	"$BIN/elp-course" -t -c "$T/conf/services/ca-ok.xml"
'

# A tree whose files name everything relatively: each path is relative to
# the directory of the file that names it, whatever the working directory.
mkdir -p "$T/rel/etc/services" "$T/rel/secrets" "$T/rel/media" \
    "$T/rel/tmp" "$T/rel/log" "$T/rel/run"
ln -s "$ROOT/conf/schema" "$T/rel/etc/schema"
cp "$T/secrets/db.pw" "$T/rel/secrets/db.pw"
cat >"$T/rel/etc/gateway.xml" <<XML
<gateway workers="1" registry="services.xml" pidfile="../run/gw.pid">
  <log level="info" error="../log/gateway.log" access="../log/access.log"/>
  <listen name="api" address="127.0.0.1:$API_PORT"/>
  <listen name="local" address="unix:../run/api.sock"/>
  <buffering temp-dir="../tmp"/>
  <route listen="local" prefix="/c" service="course" rewrite="/"
         offload-root="../media"/>
</gateway>
XML
cat >"$T/rel/etc/services.xml" <<XML
<services>
  <service name="course">
    <instance address="unix:../run/course.sock"/>
  </service>
</services>
XML
cat >"$T/rel/etc/services/course.xml" <<XML
<service name="course">
  <pool listen="unix:../../run/course.sock" workers="1"
        pidfile="../../run/course.pid"/>
  <database socket="../../run/db.sock" name="elp_course" user="elp_course"
            password-file="../../secrets/db.pw"/>
  <auth jwks-url="http://127.0.0.1:9/certs"
        issuer="http://127.0.0.1:9/realms/x" audience="elp-api"/>
</service>
XML

test_expect_success 'relative paths are relative to the file: -t passes from / and from elsewhere' '
	(cd / && "$BIN/elp-gateway" -t -c "$T/rel/etc/gateway.xml") &&
	(cd / && "$BIN/elp-course" -t -c "$T/rel/etc/services/course.xml") &&
	(cd "$T/rel/etc/services" && "$BIN/elp-gateway" -t -c ../gateway.xml) &&
	(cd "$T/rel/etc/services" && "$BIN/elp-course" -t -c course.xml) &&
	(cd "$T" && "$BIN/elp-course" -t -c rel/etc/services/course.xml)
'

test_expect_success 'a missing relative path is reported resolved against its file' '
	mv "$T/rel/media" "$T/rel/media.off" &&
	mv "$T/rel/secrets/db.pw" "$T/rel/secrets/db.off" &&
	! (cd / && "$BIN/elp-gateway" -t -c "$T/rel/etc/gateway.xml") 2>"$T/err" &&
	! (cd / && "$BIN/elp-course" -t -c "$T/rel/etc/services/course.xml") 2>>"$T/err" &&
	mv "$T/rel/media.off" "$T/rel/media" &&
	mv "$T/rel/secrets/db.off" "$T/rel/secrets/db.pw" &&
	cat "$T/err" &&
	grep -q "gateway.xml:[0-9]*: route /c: offload-root \"$T/rel/etc/../media\"" "$T/err" &&
	grep -q "course.xml:[0-9]*: password-file: \"$T/rel/etc/services/../../secrets/db.pw\": No such file" "$T/err"
'

test_expect_success 'a gateway and a service started from / serve through the resolved sockets and logs' '
	spawn relcourse sh -c "cd / && exec \"\$0\" -c \"\$1\"" \
	    "$BIN/elp-course" "$T/rel/etc/services/course.xml" &&
	wait_for test -S "$T/rel/run/course.sock" &&
	spawn relgw sh -c "cd / && exec \"\$0\" -c \"\$1\"" \
	    "$BIN/elp-gateway" "$T/rel/etc/gateway.xml" &&
	wait_for test -S "$T/rel/run/api.sock" &&
	wait_for test -s "$T/rel/run/gw.pid" &&
	test -s "$T/rel/run/course.pid" &&
	code=$(curl -s -o "$T/body" -w "%{http_code}" --unix-socket "$T/rel/run/api.sock" http://x/c/health) &&
	cat "$T/body" && expect_eq "$code" 503 &&
	grep -q "Database unavailable" "$T/body" &&
	wait_for grep -q "/c/health" "$T/rel/log/access.log" &&
	test -s "$T/rel/log/gateway.log" &&
	stop_pid $pid_relgw && stop_pid $pid_relcourse &&
	! test -e "$T/rel/run/gw.pid" && ! test -e "$T/rel/run/course.pid"
'

test_done
