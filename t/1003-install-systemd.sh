#!/bin/sh
# make install, twice: once as a package would (DESTDIR, PREFIX=/usr),
# checked with systemd's own tools (verify, security, sysusers, tmpfiles
# with --root); once with every path under $T, and the installed programs
# then run the way their units run them: the unit's user and group (a
# numeric id no account on this machine has), no supplementary groups,
# its UMask, working directory and environment, no privileges, through
# setpriv. They pass -t, start, serve through the gateway (elp-course,
# elp-auth and the others, with a private MariaDB set up by the installed
# scripts/db), reload and stop cleanly; the installed scripts/auth runs
# elp-auth as the account; what the account must not write
# or read is refused. Last, the Type=notify protocol the units rely on.
. "$(dirname "$0")/lib.sh"

PKG=$T/pkg
I=$T/inst
SBIN=$I/usr/sbin
CONF=$I/etc/elp
STATE=$I/var/lib/elp
LOGS=$I/var/log/elp
RUN=$I/run/elp
UNITS=$I/usr/lib/systemd/system
SCRIPTS=$I/usr/share/elp/scripts
# The private MariaDB: its socket outside its own 0700 directory, so the
# service account can reach it.
DBVAR=$T/dbvar
DBSOCK=$T/dbsock/mysqld.sock
SERVICES="auth confd user course content messaging"

# A uid and a gid no account or group of this machine has; OTHER_ID is a
# second one, for "someone else".
free_id() {
	n=$1
	while getent passwd "$n" >/dev/null || getent group "$n" >/dev/null; do
		n=$((n + 1))
	done
	echo "$n"
}
SVC_ID=$(free_id 61000)
OTHER_ID=$(free_id $((SVC_ID + 1)))

# make install builds what is missing first: with the flags of $BUILD.
case $BUILD in
*san) MAKE_SAN=1 ;;
*) MAKE_SAN=0 ;;
esac

inst() {
	make -s -C "$ROOT" BUILD="$BUILD" SAN=$MAKE_SAN install PREFIX="$I/usr" \
	    SYSCONFDIR="$I/etc" STATEDIR="$STATE" LOGDIR="$LOGS" RUNDIR="$RUN" \
	    DBSOCKET="$DBSOCK"
}

# unit_val UNIT KEY [INSTANCE]: the value of KEY= in installed UNIT (the
# first one), with %i replaced.
unit_val() {
	sed -n "s/^$2=//p" "$UNITS/$1" | head -n 1 | sed "s/%i/${3:-}/g"
}

# $T/as-unit UNIT INSTANCE CMD...: runs CMD as UNIT runs its commands, and
# becomes it (exec), so spawn's PID is the program's. User= and Group=
# must be elp, which is $SVC_ID here; SupplementaryGroups= must be empty;
# UMask=, WorkingDirectory= (else /), Environment= and the variables
# systemd sets for a system service with these directories; no new
# privileges and no capabilities (CapabilityBoundingSet= is empty).
cat >"$T/as-unit" <<EOF
#!/bin/sh
f=$UNITS/\$1
shift 2
val() { sed -n "s/^\$1=//p" "\$f" | head -n 1; }
test "\$(val User)" = elp && test "\$(val Group)" = elp &&
test -z "\$(val SupplementaryGroups)" &&
grep -qx "CapabilityBoundingSet=" "\$f" &&
grep -qx "NoNewPrivileges=yes" "\$f" || { echo "as-unit: \$f" >&2; exit 125; }
um=\$(val UMask)
wd=\$(val WorkingDirectory)
cd "\${wd:-/}" && umask "\${um:-0022}" || exit 125
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 USER=elp LOGNAME=elp HOME="$STATE" SHELL=/usr/sbin/nologin \\
    STATE_DIRECTORY="$STATE" LOGS_DIRECTORY="$LOGS" \\
    RUNTIME_DIRECTORY="$RUN" CONFIGURATION_DIRECTORY="$CONF" \\
    \${ASAN_OPTIONS:+ASAN_OPTIONS=\$ASAN_OPTIONS} \\
    \${UBSAN_OPTIONS:+UBSAN_OPTIONS=\$UBSAN_OPTIONS} \\
    \${NOTIFY_SOCKET:+NOTIFY_SOCKET=\$NOTIFY_SOCKET} \\
    \$(sed -n 's/^Environment=//p' "\$f") \\
    setpriv --reuid=$SVC_ID --regid=$SVC_ID --clear-groups --no-new-privs \\
    --inh-caps=-all --bounding-set=-all "\$@"
EOF
chmod 755 "$T/as-unit"
as_unit() {
	"$T/as-unit" "$@"
}

# exec_line UNIT KEY [INSTANCE]: the command of ExecStart= or
# ExecStartPre= as words.
exec_line() {
	unit_val "$1" "$2" "${3:-}"
}

# as_other CMD...: CMD as a uid and gid that are neither root nor elp.
as_other() {
	setpriv --reuid="$OTHER_ID" --regid="$OTHER_ID" --clear-groups \
	    --no-new-privs "$@"
}

test_expect_success 'make install DESTDIR=... PREFIX=/usr: the package layout' '
	make -s -C "$ROOT" BUILD="$BUILD" SAN=$MAKE_SAN install DESTDIR="$PKG" PREFIX=/usr \
	    >"$T/pkg.out" &&
	for p in gateway auth user course content messaging; do
		test -x "$PKG/usr/sbin/elp-$p" || return 1
	done &&
	test -f "$PKG/etc/elp/gateway.xml" && test -f "$PKG/etc/elp/services.xml" &&
	test -f "$PKG/etc/elp/services/content.xml" &&
	test -f "$PKG/etc/elp/schema/service.xsd" &&
	test -f "$PKG/etc/elp/templates/messaging/user.registered.txt" &&
	test -d "$PKG/etc/elp/secrets" &&
	test -f "$PKG/usr/lib/systemd/system/elp-gateway.service" &&
	test -f "$PKG/usr/lib/systemd/system/elp@.service" &&
	test -f "$PKG/usr/lib/systemd/system/elp.target" &&
	test -f "$PKG/usr/lib/sysusers.d/elp.conf" &&
	test -f "$PKG/usr/lib/tmpfiles.d/elp.conf" &&
	test -x "$PKG/usr/share/elp/scripts/db" &&
	test -x "$PKG/usr/share/elp/scripts/auth" &&
	test -f "$PKG/usr/share/elp/fcgi-apps/course/migrations/0001-course-schema.sql" &&
	! test -e "$PKG/etc/elp/demo.conf" &&
	test -z "$(find "$PKG/etc/elp" -type d ! -perm 0750)" &&
	test -z "$(find "$PKG/etc/elp" -type f ! -perm 0640)"
'

test_expect_success 'the installed configuration names the FHS layout' '
	E=$PKG/etc/elp &&
	grep -q "error=\"/var/log/elp/gateway.log\"" "$E/gateway.xml" &&
	grep -q "temp-dir=\"/var/lib/elp/tmp\"" "$E/gateway.xml" &&
	grep -q "offload-root=\"/var/lib/elp/media\"" "$E/gateway.xml" &&
	grep -q "address=\"unix:/run/elp/auth.sock\"" "$E/services.xml" &&
	grep -q "leases=\"/var/lib/elp/confd/leases.xml\"" "$E/gateway.xml" &&
	grep -q "file=\"/var/lib/elp/confd/leases.xml\"" "$E/services/confd.xml" &&
	grep -q "listen=\"unix:/run/elp/auth.sock\"" "$E/services/auth.xml" &&
	grep -q "password-file=\"/etc/elp/secrets/db-auth.pw\"" "$E/services/auth.xml" &&
	grep -q "secret-file=\"/etc/elp/secrets/auth-elp-user.secret\"" "$E/services/auth.xml" &&
	grep -q "keys=\"/var/lib/elp/keys\"" "$E/services/auth.xml" &&
	grep -q "socket=\"/run/mysqld/mysqld.sock\"" "$E/services/course.xml" &&
	grep -q "root=\"/var/lib/elp/media\"" "$E/services/content.xml" &&
	# No path left that names the source tree.
	! grep -n "=\"\(unix:\)\?\(\.\./\)*var/" "$E"/*.xml "$E"/services/*.xml &&
	grep -qx "DEF_DATA=/usr/share/elp" "$PKG/usr/share/elp/scripts/db" &&
	grep -qx "DEF_SECRETS=/etc/elp/secrets" "$PKG/usr/share/elp/scripts/db" &&
	grep -qx "DEF_OWNER=elp:elp" "$PKG/usr/share/elp/scripts/auth" &&
	grep -qx "DEF_BIN=/usr/sbin" "$PKG/usr/share/elp/scripts/auth"
'

test_expect_success 'every @PLACEHOLDER@ is filled in' '
	U=$PKG/usr/lib/systemd/system &&
	! grep -rl "@[A-Z]*@" "$U" "$PKG/usr/lib/sysusers.d" \
	    "$PKG/usr/lib/tmpfiles.d" "$PKG/etc/logrotate.d" \
	    "$PKG/usr/share/elp/scripts" &&
	grep -qx "ExecStart=/usr/sbin/elp-gateway -c /etc/elp/gateway.xml" "$U/elp-gateway.service" &&
	grep -qx "ExecStart=/usr/sbin/elp-%i -c /etc/elp/services/%i.xml" "$U/elp@.service" &&
	grep -q "^d /run/elp  *0750 elp elp" "$PKG/usr/lib/tmpfiles.d/elp.conf" &&
	grep -q "^u elp - .* /var/lib/elp " "$PKG/usr/lib/sysusers.d/elp.conf" &&
	grep -q "^/var/log/elp/\*.log {" "$PKG/etc/logrotate.d/elp"
'

# A root for systemd-analyze: the package tree plus the host's targets.
VROOT=$T/vroot
test_expect_success 'systemd-analyze verify --root accepts the units without a word' '
	cp -a "$PKG" "$VROOT" &&
	cp -n /usr/lib/systemd/system/*.target "$VROOT/usr/lib/systemd/system/" &&
	(MANPATH=$VROOT/usr/share/man systemd-analyze verify --root="$VROOT" \
	    elp-gateway.service elp@auth.service elp@user.service \
	    elp@course.service elp@content.service elp@messaging.service \
	    elp.target) >"$T/verify.out" 2>&1 &&
	cat "$T/verify.out" && ! test -s "$T/verify.out"
'

test_expect_success 'verify --root would catch a typo and a missing program' '
	V=$VROOT/usr/lib/systemd/system &&
	sed "s/^Type=notify/Type=notfy/" "$V/elp-gateway.service" >"$V/bad.service" &&
	{ (MANPATH=$VROOT/usr/share/man systemd-analyze verify --root="$VROOT" \
	    bad.service) >"$T/bad.out" 2>&1 || :; } &&
	grep -qi "service type" "$T/bad.out" &&
	rm "$V/bad.service" && mv "$VROOT/usr/sbin/elp-course" "$T/elp-course.off" &&
	{ (MANPATH=$VROOT/usr/share/man systemd-analyze verify --root="$VROOT" \
	    elp@course.service) >"$T/bad.out" 2>&1 || :; } &&
	mv "$T/elp-course.off" "$VROOT/usr/sbin/elp-course" &&
	grep -q "/usr/sbin/elp-course is not executable" "$T/bad.out"
'

test_expect_success 'systemd-analyze security --offline: every unit at 2.0 or below' '
	V=$VROOT/usr/lib/systemd/system && : >"$T/scores" &&
	for s in $SERVICES; do
		cp "$V/elp@.service" "$V/elp@$s.service" || return 1
	done &&
	for u in elp-gateway.service elp@auth.service elp@confd.service \
	    elp@user.service elp@course.service elp@content.service \
	    elp@messaging.service; do
		systemd-analyze security --offline=true --root="$VROOT" \
		    --threshold=20 "$V/$u" >"$T/security.out" 2>&1 ||
		    { cat "$T/security.out"; return 1; }
		score=$(sed -n "s/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p" \
		    "$T/security.out") &&
		echo "$u: exposure $score" >>"$T/scores" &&
		awk -v s="$score" "BEGIN { exit !(s != \"\" && s <= 2.0) }" || return 1
	done &&
	# The threshold is a real check: 1.0 is below what the units reach.
	! systemd-analyze security --offline=true --root="$VROOT" --threshold=10 \
	    "$V/elp-gateway.service" >/dev/null 2>&1
'
# The scores, for the record.
sed "s/^/# systemd-analyze security: /" "$T/scores" 2>/dev/null

test_expect_success 'sysusers makes the account, tmpfiles owns the tree as documented (--root)' '
	(umask 077 && echo s >"$PKG/etc/elp/secrets/auth-elp-user.secret") &&
	systemd-sysusers --root="$PKG" elp.conf >"$T/sysusers.out" 2>&1 &&
	uid=$(awk -F: "\$1 == \"elp\" { print \$3 }" "$PKG/etc/passwd") &&
	gid=$(awk -F: "\$1 == \"elp\" { print \$3 }" "$PKG/etc/group") &&
	test -n "$uid" && test -n "$gid" &&
	grep -q "^elp:x:$uid:$gid:.*:/var/lib/elp:/usr/sbin/nologin\$" "$PKG/etc/passwd" &&
	systemd-tmpfiles --root="$PKG" --create elp.conf >"$T/tmpfiles.out" 2>&1 &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp")" "0:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/services")" "0:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/gateway.xml")" "0:$gid 640" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/services/auth.xml")" "0:$gid 640" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/templates/messaging/user.registered.txt")" "0:$gid 640" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/secrets")" "0:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/etc/elp/secrets/auth-elp-user.secret")" "$uid:$gid 600" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/var/lib/elp")" "$uid:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/var/lib/elp/media")" "$uid:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/var/lib/elp/keys")" "$uid:$gid 700" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/var/log/elp")" "$uid:$gid 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$PKG/run/elp")" "$uid:$gid 750"
'

test_expect_success 'make install with every path under the test directory' '
	inst >"$T/install.out" &&
	grep -q "socket=\"$DBSOCK\"" "$CONF/services/course.xml" &&
	grep -q "listen=\"unix:$RUN/course.sock\"" "$CONF/services/course.xml" &&
	# The installed tmpfiles snippet, with the numeric ids of this test.
	sed -E -e "s/[[:space:]]root[[:space:]]+elp[[:space:]]/ 0 $SVC_ID /" \
	    -e "s/[[:space:]]elp[[:space:]]+elp[[:space:]]/ $SVC_ID $SVC_ID /" \
	    "$I/usr/lib/tmpfiles.d/elp.conf" >"$T/tmpfiles.conf" &&
	! grep -q "^[^#].*[[:space:]]elp[[:space:]]" "$T/tmpfiles.conf" &&
	systemd-tmpfiles --create "$T/tmpfiles.conf" &&
	expect_eq "$(stat -c "%u:%g %a" "$CONF")" "0:$SVC_ID 750" &&
	expect_eq "$(stat -c "%u:%g %a" "$RUN")" "$SVC_ID:$SVC_ID 750"
'

test_expect_success 'installed scripts/auth and scripts/db make the secrets, owned by the account' '
	mkdir -p "$T/dbsock" &&
	ELP_OWNER=$SVC_ID:$SVC_ID "$SCRIPTS/auth" init >"$T/auth-init.out" 2>&1 &&
	test_dbs="$test_dbs $DBVAR" &&
	(export ELP_VAR=$DBVAR ELP_DB_SOCKET=$DBSOCK ELP_DB_EXTERNAL=0 \
	    ELP_OWNER=$SVC_ID:$SVC_ID &&
	    "$SCRIPTS/db" up) >"$T/log/db-up.out" 2>&1 &&
	grep -q "migrate: elp_course: applied 0001-course-schema.sql" "$T/log/db-up.out" &&
	for f in auth-elp-user.secret auth-elp-course.secret \
	    auth-elp-messaging.secret db-auth.pw db-user.pw db-course.pw \
	    db-content.pw db-messaging.pw; do
		expect_eq "$(stat -c "%u:%g %a" "$CONF/secrets/$f")" \
		    "$SVC_ID:$SVC_ID 600" || return 1
	done &&
	# The state directory is the script default, not the source tree.
	! test -e "$ROOT/var/secrets/db-auth.pw.tmp" &&
	systemd-tmpfiles --create "$T/tmpfiles.conf" &&
	expect_eq "$(stat -c "%u:%g %a" "$CONF/secrets/db-auth.pw")" "$SVC_ID:$SVC_ID 600"
'

# Free loopback ports for the installed gateway, and the service URLs that
# reach its admin listener.
STREAM_PORT=$(free_port)
test_expect_success 'an operator edit: loopback ports for this test' '
	sed -i -e "s|0\.0\.0\.0:9191|127.0.0.1:$API_PORT|" \
	    -e "s|0\.0\.0\.0:8080|127.0.0.1:$IDP_PORT|" \
	    -e "s|0\.0\.0\.0:8082|127.0.0.1:$STREAM_PORT|" \
	    -e "s|127\.0\.0\.1:9190|127.0.0.1:$ADMIN_PORT|" "$CONF/gateway.xml" &&
	for s in $SERVICES; do
		sed -i "s|http://127\.0\.0\.1:9190|http://127.0.0.1:$ADMIN_PORT|g" \
		    "$CONF/services/$s.xml" || return 1
	done &&
	xmllint --nonet --xpath "//listen/@address" "$CONF/gateway.xml" >"$T/addrs" &&
	grep -q "127\.0\.0\.1:$API_PORT" "$T/addrs" &&
	! grep -q "0\.0\.0\.0" "$T/addrs"
'

test_expect_success '-t passes for every program as the unit runs it, from /' '
	cmd=$(exec_line elp-gateway.service ExecStartPre) &&
	expect_eq "$cmd" "$SBIN/elp-gateway -t -c $CONF/gateway.xml" &&
	as_unit elp-gateway.service "" $cmd 2>"$T/t.err" ||
	    { cat "$T/t.err"; return 1; }
	for s in $SERVICES; do
		cmd=$(exec_line elp@.service ExecStartPre "$s") &&
		as_unit elp@.service "$s" $cmd 2>"$T/t.err" ||
		    { cat "$T/t.err"; return 1; }
	done
'

test_expect_success 'the account cannot change its configuration or read what is not its own' '
	! as_unit elp@.service auth sh -c ": >>$CONF/gateway.xml" 2>/dev/null &&
	! as_unit elp@.service auth sh -c ": >$CONF/new.xml" 2>/dev/null &&
	! as_unit elp@.service auth sh -c ": >$CONF/secrets/new.secret" 2>/dev/null &&
	! as_unit elp@.service auth sh -c ": >$CONF/services/new.xml" 2>/dev/null &&
	! as_unit elp@.service auth sh -c ": >$SBIN/elp-new" 2>/dev/null &&
	(umask 077 && echo root-only >"$CONF/secrets/root.secret") &&
	! as_unit elp@.service auth cat "$CONF/secrets/root.secret" 2>/dev/null &&
	rm "$CONF/secrets/root.secret" &&
	# What it may do: read its configuration, write its state.
	as_unit elp@.service auth cat "$CONF/services/auth.xml" >/dev/null &&
	as_unit elp@.service auth sh -c ": >$STATE/media/probe && rm $STATE/media/probe" &&
	# Anyone else (not root, not in group elp) reads nothing of it.
	! as_other cat "$CONF/gateway.xml" 2>/dev/null &&
	! as_other cat "$CONF/secrets/db-auth.pw" 2>/dev/null &&
	! as_other ls "$STATE/keys" 2>/dev/null &&
	! as_other ls "$RUN" 2>/dev/null
'

test_expect_success 'every service and the gateway start as the units run them' '
	for s in $SERVICES; do
		cmd=$(exec_line elp@.service ExecStart "$s") &&
		expect_eq "$cmd" "$SBIN/elp-$s -c $CONF/services/$s.xml" &&
		spawn "$s" "$T/as-unit" elp@.service "$s" $cmd || return 1
	done &&
	for s in $SERVICES; do
		wait_for test -S "$RUN/$s.sock" || return 1
	done &&
	cmd=$(exec_line elp-gateway.service ExecStart) &&
	spawn gw "$T/as-unit" elp-gateway.service "" $cmd &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz"
'

# up NAME: the service answers UP through the gateway.
up() {
	[ "$(http GET "http://127.0.0.1:$ADMIN_PORT/health/$1")" = 200 ] &&
	    grep -q "\"status\":\"UP\"" "$T/body"
}

test_expect_success 'requests reach the services through the gateway' '
	# elp-auth and elp-confd are static; the others registered (leases).
	for s in $SERVICES; do
		wait_for up "$s" || { cat "$T/body"; return 1; }
	done &&
	for s in user course content messaging; do
		grep -q "unix:$RUN/$s.sock" "$STATE/confd/leases.xml" || return 1
	done &&
	code=$(http GET "http://127.0.0.1:$API_PORT/course-management-api?pageNumber=0&limit=10") &&
	expect_eq "$code" 200 &&
	code=$(http GET "http://127.0.0.1:$IDP_PORT/realms/e-learning-platform/protocol/openid-connect/certs") &&
	expect_eq "$code" 200 && grep -q "\"kty\":\"RSA\"" "$T/body"
'

test_expect_success 'what the programs wrote belongs to the account, with the unit UMask' '
	test -n "$(ls "$STATE/keys")" &&
	test -z "$(find "$STATE/keys" ! -user "$SVC_ID")" &&
	test -z "$(find "$STATE/keys" -type f -perm /077)" &&
	wait_for grep -q "course-management-api" "$LOGS/access.log" &&
	expect_eq "$(stat -c "%u:%g %a" "$LOGS/access.log")" "$SVC_ID:$SVC_ID 640" &&
	expect_eq "$(stat -c "%u:%g %a" "$LOGS/gateway.log")" "$SVC_ID:$SVC_ID 640" &&
	expect_eq "$(stat -c "%u" "$RUN/course.sock")" "$SVC_ID" &&
	# No socket or log landed where a working directory would have put it.
	! test -e /var/run/course.sock && ! test -e "$STATE/var"
'

test_expect_success 'installed scripts/auth runs elp-auth as the account: rotate-keys, create-user' '
	n=$(ls "$STATE/keys" | wc -l) &&
	ELP_OWNER=$SVC_ID:$SVC_ID "$SCRIPTS/auth" rotate-keys >"$T/rotate.out" 2>&1 &&
	test "$(ls "$STATE/keys" | wc -l)" -gt "$n" &&
	test -z "$(find "$STATE/keys" ! -user "$SVC_ID")" &&
	code=$(http GET "http://127.0.0.1:$IDP_PORT/realms/e-learning-platform/protocol/openid-connect/certs") &&
	expect_eq "$code" 200 &&
	expect_eq "$(grep -o "\"kid\"" "$T/body" | wc -l)" 2 &&
	printf "%s\n" "Install#2026check" | ELP_OWNER=$SVC_ID:$SVC_ID \
	    "$SCRIPTS/auth" create-user --email admin@example.org --role ADMIN \
	    >"$T/create-user.out" 2>&1 &&
	code=$(http POST "http://127.0.0.1:$IDP_PORT/realms/e-learning-platform/protocol/openid-connect/token" \
	    -d grant_type=password -d client_id=admin-cli \
	    -d username=admin@example.org -d password=Install#2026check) &&
	expect_eq "$code" 200 && grep -q "access_token" "$T/body"
'

test_expect_success 'the units reload and stop cleanly' '
	as_unit elp-gateway.service "" $(exec_line elp-gateway.service ExecStartPre) &&
	kill -HUP $pid_gw &&
	wait_for grep -q "reload done" "$LOGS/gateway.log" &&
	code=$(http GET "http://127.0.0.1:$ADMIN_PORT/health/course") &&
	expect_eq "$code" 200 &&
	kill $pid_gw && wait $pid_gw &&
	for s in $SERVICES; do
		eval "p=\$pid_$s" &&
		kill "$p" && wait "$p" || return 1
	done &&
	! test -e "$RUN/course.sock" &&
	(export ELP_VAR=$DBVAR ELP_DB_SOCKET=$DBSOCK ELP_DB_EXTERNAL=0 &&
	    "$SCRIPTS/db" stop) >>"$T/log/db.out" 2>&1
'

test_expect_success 'a reinstall keeps an edited file and refreshes the schemas' '
	sed -i "s/workers=\"auto\"/workers=\"3\"/" "$CONF/gateway.xml" &&
	printf "stale\n" >"$CONF/schema/gateway.xsd" &&
	inst >"$T/install2.out" &&
	grep -q "workers=\"3\"" "$CONF/gateway.xml" &&
	grep -q "kept .*/etc/elp/gateway.xml" "$T/install2.out" &&
	cmp "$ROOT/conf/schema/gateway.xsd" "$CONF/schema/gateway.xsd"
'

test_expect_success 'gateway: READY=1 once serving, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM' '
	spawn sink python3 "$ROOT/t/helper/notify-sink.py" "$T/run/notify.sock" "$T/notify.out" &&
	wait_for test -S "$T/run/notify.sock" &&
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	NOTIFY_SOCKET=$T/run/notify.sock gateway_up &&
	wait_for grep -qx READY=1 "$T/notify.out" &&
	kill -HUP $pid_gateway &&
	wait_for sh -c "test \$(grep -c . $T/notify.out) -ge 4" &&
	sed -n 2p "$T/notify.out" | grep -qx RELOADING=1 &&
	sed -n 3p "$T/notify.out" | grep -q ^MONOTONIC_USEC= &&
	sed -n 4p "$T/notify.out" | grep -qx READY=1 &&
	stop_pid $pid_gateway &&
	tail -n 1 "$T/notify.out" | grep -qx STOPPING=1
'

test_expect_success 'a service pool: READY=1 once serving' '
	: >"$T/notify.out" &&
	NOTIFY_SOCKET=$T/run/notify.sock spawn echo2 "$HELPERS/fcgi-echo" \
	    -l "unix:$T/run/echo2.sock" -w 1 &&
	wait_for grep -qx READY=1 "$T/notify.out"
'

test_done
