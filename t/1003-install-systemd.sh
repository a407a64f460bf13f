#!/bin/sh
# make install into a private tree: programs, configuration (never
# replacing an edited file), systemd units that systemd-analyze accepts,
# sysusers/tmpfiles/logrotate with the paths filled in, the installed
# programs accepting the installed configuration; and the readiness,
# reload and stop notifications the Type=notify units rely on.
. "$(dirname "$0")/lib.sh"

I=$T/inst
SBIN=$I/usr/sbin
CONF=$I/etc/elp
STATE=$I/var/lib/elp
UNITS=$I/usr/lib/systemd/system

inst() {
	make -s -C "$ROOT" BUILD="$BUILD" install PREFIX="$I/usr" \
	    SYSCONFDIR="$I/etc" STATEDIR="$STATE"
}

test_expect_success 'make install into a private tree' '
	inst >"$T/install.out" &&
	for p in gateway auth user course content messaging; do
		test -x "$SBIN/elp-$p" || return 1
	done &&
	test -f "$CONF/gateway.xml" && test -f "$CONF/services.xml" &&
	test -f "$CONF/services/content.xml" && test -f "$CONF/schema/service.xsd" &&
	test -f "$UNITS/elp-gateway.service" && test -f "$UNITS/elp@.service" &&
	test -f "$UNITS/elp.target" &&
	test -x "$I/usr/share/elp/scripts/db" &&
	test -f "$I/usr/share/elp/fcgi-apps/course/migrations/0001-course-schema.sql" &&
	! test -e "$CONF/demo.conf" &&
	expect_eq "$(stat -c %a "$CONF/services/auth.xml")" 640
'

test_expect_success 'every @PLACEHOLDER@ is filled in' '
	! grep -rl "@[A-Z]*@" "$UNITS" "$I/usr/lib/sysusers.d" \
	    "$I/usr/lib/tmpfiles.d" "$I/etc/logrotate.d" &&
	grep -q "^ExecStart=$SBIN/elp-gateway -c $CONF/gateway.xml\$" "$UNITS/elp-gateway.service" &&
	grep -q "^ExecStart=$SBIN/elp-%i -c $CONF/services/%i.xml\$" "$UNITS/elp@.service" &&
	grep -q "^WorkingDirectory=$STATE\$" "$UNITS/elp@.service" &&
	grep -q "^d $STATE/var/media " "$I/usr/lib/tmpfiles.d/elp.conf" &&
	grep -q "^u elp - .* $STATE " "$I/usr/lib/sysusers.d/elp.conf" &&
	grep -q "^$STATE/var/log/\*.log {" "$I/etc/logrotate.d/elp"
'

test_expect_success 'systemd-analyze verify accepts the units without a word' '
	mkdir -p "$T/verify" &&
	cp "$UNITS/elp-gateway.service" "$UNITS/elp.target" "$T/verify/" &&
	for s in auth user course content messaging; do
		cp "$UNITS/elp@.service" "$T/verify/elp@$s.service" || return 1
	done &&
	(cd "$T/verify" && systemd-analyze verify elp-gateway.service \
	    elp@auth.service elp@user.service elp@course.service \
	    elp@content.service elp@messaging.service elp.target) \
	    >"$T/verify.out" 2>&1 &&
	cat "$T/verify.out" && ! test -s "$T/verify.out"
'

test_expect_success 'a unit with a typo would be caught' '
	sed "s/^Type=notify/Type=notfy/" "$T/verify/elp-gateway.service" >"$T/verify/bad.service" &&
	(cd "$T/verify" && systemd-analyze verify bad.service) >"$T/bad.out" 2>&1;
	grep -qi "service type" "$T/bad.out"
'

test_expect_success 'the installed programs accept the installed configuration' '
	mkdir -p "$STATE/var/media" "$STATE/var/tmp" &&
	ELP_VAR=$STATE/var "$I/usr/share/elp/scripts/auth" init &&
	! (cd "$STATE" && "$SBIN/elp-course" -t -c "$CONF/services/course.xml") 2>"$T/nopw.err" &&
	grep -q "course.xml:[0-9]*: password-file: \"var/secrets/db-course.pw\"" "$T/nopw.err" &&
	# What scripts/db setup leaves for each service; no database here.
	for s in auth user course content messaging; do
		(umask 077 && echo "pw-$s" >"$STATE/var/secrets/db-$s.pw") || return 1
	done &&
	(cd "$STATE" && "$SBIN/elp-gateway" -t -c "$CONF/gateway.xml") &&
	for s in auth user course content messaging; do
		(cd "$STATE" && "$SBIN/elp-$s" -t -c "$CONF/services/$s.xml") || return 1
	done
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
