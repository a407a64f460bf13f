#!/bin/sh
# t/run: alone (it loads the machine; the runner gives it the machine to itself)
# make deb: the packages build, lintian finds no error, and real dpkg with
# the real maintainer scripts installs them into an isolated root: an
# overlay of / (writes go to a tmpfs) in a private mount namespace, entered
# with chroot, so this machine's files, users and packages stay as they
# were. There: the account elp and its directories exist, /etc/elp is
# root:elp 0640 and its files are conffiles, the installed programs run as
# elp and serve a request through the installed gateway, an upgrade keeps
# an edited conffile, and remove and purge leave only what they should.
# A stand-in systemctl (no systemd runs here) records what the maintainer
# scripts ask of systemd: nothing started on install, the running units
# restarted on upgrade, all stopped on removal. Needs root (mounts,
# chroot, dpkg).

# The whole script runs in its own mount namespace: whatever happens, its
# mounts vanish with it and are never seen outside.
if [ "${ELP_T1007_NS:-}" != 1 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "not ok 1 - t/1007 needs root (mount namespace, chroot, dpkg)"
		echo "1..1"
		exit 1
	fi
	ELP_T1007_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"

DEBS=$T/deb
MNT=$T/mnt
R=$MNT/root
PATH_IN=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin

# in_root CMD...: runs CMD in the isolated root as root, clean environment.
in_root() {
	chroot "$R" env -i PATH=$PATH_IN LC_ALL=C.UTF-8 \
	    DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

# as_elp 'SHELL COMMANDS': runs them in the isolated root as user elp (and
# group elp only) in $W, its home (the state directory).
as_elp() {
	chroot "$R" env -i PATH=$PATH_IN LC_ALL=C.UTF-8 \
	    setpriv --reuid=elp --regid=elp --init-groups \
	    sh -c "cd $W && $1" </dev/null
}

# cpath FILE ATTR: the first ATTR="..." in the installed FILE, a path (a
# unix: address too) made absolute against the file's directory, as the
# programs do.
cpath() {
	v=$(sed -n "s/.*[[:space:]]$2=\"\([^\"]*\)\".*/\1/p" "$R$1" | head -n 1)
	v=${v#unix:}
	case $v in
	"") return 1 ;;
	/*) echo "$v" ;;
	*) echo "${1%/*}/$v" ;;
	esac
}

# Unmounts everything under $MNT, innermost first; nothing may be left
# mounted when lib.sh removes $T.
root_umount() {
	grep -F " $MNT" /proc/self/mountinfo | awk '{print $5}' | sort -r |
	while read -r m; do
		umount "$m" || umount -l "$m"
	done
	! grep -qF " $MNT" /proc/self/mountinfo
}

test_expect_success 'make deb builds elp-common, elp-gateway, elp-services' '
	start=$(date +%s) &&
	make -s -C "$ROOT" deb DEB_DIR="$DEBS" >"$T/deb.out" 2>&1 &&
	say "make deb: $(( $(date +%s) - start ))s" &&
	for p in elp-common elp-gateway elp-services; do
		ls "$DEBS/${p}_"*.deb >/dev/null || return 1
		cp "$DEBS/${p}_"*.deb "$T/" || return 1
	done &&
	VERSION=$(make -s -C "$ROOT" version) &&
	DEBV=$(dpkg-deb -f "$T"/elp-common_*.deb Version) && say "version $DEBV" &&
	dpkg --compare-versions "$DEBV" gt 0~0 &&
	case $DEBV in *"$(echo "${VERSION%-dirty}" | sed "s/.*-g//")"*) ;; *) false ;; esac &&
	dpkg-deb -f "$T"/elp-gateway_*.deb Depends >"$T/gw.depends" &&
	grep -q "elp-common (= " "$T/gw.depends" &&
	grep -q "libxml2" "$T/gw.depends" &&
	dpkg-deb -f "$T"/elp-services_*.deb Depends | grep -q libmariadb
'

test_expect_success 'lintian: no error' '
	lintian --fail-on error --display-info "$T"/elp-*.deb \
	    >"$T/lintian.out" 2>&1;
	rc=$? && cat "$T/lintian.out" &&
	test $rc -eq 0 && ! grep -q "^E:" "$T/lintian.out"
'

test_expect_success 'every file under /etc/elp in elp-common is a conffile' '
	dpkg-deb -c "$T"/elp-common_*.deb | awk "/^-/ {print \$6}" |
	    sed -n "s|^\./etc/elp/|/etc/elp/|p" | sort >"$T/etc.files" &&
	dpkg-deb --ctrl-tarfile "$T"/elp-common_*.deb | tar -xO ./conffiles |
	    grep "^/etc/elp/" | sort >"$T/conffiles" &&
	grep -qx /etc/elp/gateway.xml "$T/conffiles" &&
	grep -qx /etc/elp/services/auth.xml "$T/conffiles" &&
	diff "$T/etc.files" "$T/conffiles"
'

test_expect_success 'an overlay of / in this private mount namespace' '
	mkdir -p "$MNT" && mount -t tmpfs -o mode=0755 elp-t1007 "$MNT" &&
	mkdir "$MNT/upper" "$MNT/work" "$R" &&
	mount -t overlay elp-t1007 \
	    -o "lowerdir=/,upperdir=$MNT/upper,workdir=$MNT/work" "$R" &&
	mount -t proc proc "$R/proc" &&
	mount -t tmpfs -o mode=0755 dev "$R/dev" &&
	mknod -m 666 "$R/dev/null" c 1 3 && mknod -m 666 "$R/dev/zero" c 1 5 &&
	mknod -m 666 "$R/dev/random" c 1 8 &&
	mknod -m 666 "$R/dev/urandom" c 1 9 &&
	mount -t tmpfs -o mode=1777 tmp "$R/tmp" &&
	mount -t tmpfs -o mode=0755 run "$R/run" &&
	# No man-db index rebuild in there (only slow), no policy-rc.d.
	rm -f "$R/var/lib/man-db/auto-update" "$R/usr/sbin/policy-rc.d" &&
	# systemd as the maintainer scripts see it: /run/systemd/system and a
	# systemctl that logs each call; the units in /run/active are running,
	# none is enabled.
	mkdir -p "$R/run/systemd/system" "$R/usr/local/sbin" &&
	cat >"$R/usr/local/sbin/systemctl" <<-\EOF &&
	#!/bin/sh
	echo "$*" >>/run/systemctl.log
	for a; do u=$a; done
	case " $* " in
	*" is-enabled "*) echo disabled; exit 1 ;;
	*" is-active "*) grep -qxF "$u" /run/active 2>/dev/null; exit ;;
	esac
	exit 0
	EOF
	chmod 755 "$R/usr/local/sbin/systemctl" && : >"$R/run/active" &&
	touch "$R/.elp-t1007" && ! test -e /.elp-t1007 &&
	sha256sum /etc/passwd /etc/group >"$T/host.sum" &&
	dpkg-query -W -f="\${Status}\n" elp-common >"$T/host.st" 2>&1;
	! in_root dpkg -s elp-common >/dev/null 2>&1
'

test_expect_success 'dpkg -i: the maintainer scripts create user elp and its directories' '
	mkdir "$R/tmp/debs" &&
	for p in elp-common elp-gateway elp-services; do
		cp "$T/${p}_"*.deb "$R/tmp/debs/$p.deb" || return 1
	done &&
	in_root dpkg -i /tmp/debs/elp-common.deb /tmp/debs/elp-gateway.deb \
	    /tmp/debs/elp-services.deb >"$T/dpkg-i.out" 2>&1 ||
	    { cat "$T/dpkg-i.out"; return 1; }
	cat "$T/dpkg-i.out" &&
	# Nothing started: elp.target is the administrator s to enable.
	cat "$R/run/systemctl.log" &&
	! grep -E "(^| )(start|restart|try-restart|enable) " "$R/run/systemctl.log" &&
	grep -q "elp-gateway.service is a disabled .*not starting it" "$T/dpkg-i.out" &&
	for p in elp-common elp-gateway elp-services; do
		in_root dpkg-query -W -f="\${Status} \${Version}\n" $p >"$T/st" &&
		grep -q "^install ok installed " "$T/st" || return 1
	done &&
	in_root getent passwd elp >"$T/pw" && cat "$T/pw" &&
	W=$(cut -d: -f6 "$T/pw") &&
	expect_eq "$W" /var/lib/elp &&
	expect_eq "$(cut -d: -f7 "$T/pw")" /usr/sbin/nologin &&
	in_root getent group elp &&
	# Each directory of the installed tmpfiles.d file, as it says.
	grep "^d " "$R/usr/lib/tmpfiles.d/elp.conf" >"$T/dirs" &&
	test -s "$T/dirs" &&
	while read -r _ path mode user group _; do
		expect_eq "$(in_root stat -c "%F %a %U %G" "$path")" \
		    "directory ${mode#0} $user $group" || return 1
	done <"$T/dirs"
'

test_expect_success '/etc/elp: root:elp, the configuration 0640' '
	for f in gateway.xml services.xml services/auth.xml services/course.xml; do
		expect_eq "$(in_root stat -c "%U %G %a" "/etc/elp/$f")" "root elp 640" ||
		    return 1
	done &&
	in_root dpkg-query --showformat="\${Conffiles}\n" -W elp-common \
	    >"$T/conffiles.installed" &&
	grep -q "^ /etc/elp/gateway.xml [0-9a-f]*$" "$T/conffiles.installed" &&
	test -x "$R/usr/share/elp/scripts/db" &&
	test -f "$R/lib/systemd/system/elp.target" &&
	test -f "$R/lib/systemd/system/elp-gateway.service" &&
	test -f "$R/lib/systemd/system/elp@.service" &&
	test -f "$R/usr/share/man/man8/elp-auth.8.gz" &&
	# Not enabled by the package: "systemctl enable --now elp.target" is
	# the administrator s step once the database is there.
	! test -e "$R/etc/systemd/system/multi-user.target.wants/elp.target"
'

test_expect_success 'the installed programs run as elp: --version, -t' '
	for p in gateway auth user course content messaging; do
		expect_eq "$(as_elp "/usr/sbin/elp-$p --version")" \
		    "elp-$p $VERSION" || return 1
	done &&
	as_elp "/usr/sbin/elp-gateway -t -c /etc/elp/gateway.xml" &&
	# elp-auth wants its client secrets and a database password file:
	# the installed scripts/auth, run by root, makes the secrets for elp.
	A=/etc/elp/services/auth.xml &&
	secret=$(cpath $A secret-file) && pwfile=$(cpath $A password-file) &&
	in_root /usr/share/elp/scripts/auth init &&
	expect_eq "$(in_root stat -c "%U %G %a" "$secret")" "elp elp 600" &&
	! as_elp "echo x >>$secret.new" 2>/dev/null &&
	in_root sh -c "umask 077 && echo pw >$pwfile && chown elp:elp $pwfile" &&
	as_elp "/usr/sbin/elp-auth -t -c /etc/elp/services/auth.xml" &&
	! as_elp "cat /etc/shadow" 2>/dev/null
'

test_expect_success 'the installed gateway and elp-auth serve a request' '
	# The shipped gateway.xml, each listener moved to a free port, as an
	# administrator edits the conffile.
	cp "$R/etc/elp/gateway.xml" "$T/gateway.xml.orig" &&
	for a in $(sed -n "s/.*<listen .*address=\"\([^\"]*\)\".*/\1/p" \
	    "$T/gateway.xml.orig"); do
		port=$(free_port) &&
		sed -i "s|address=\"$a\"|address=\"127.0.0.1:$port\"|" \
		    "$R/etc/elp/gateway.xml" || return 1
		case $a in
		*:8080) IDP_PORT=$port ;;
		*:9190) ADMIN_PORT=$port ;;
		esac
	done &&
	test -n "${IDP_PORT:-}" && test -n "${ADMIN_PORT:-}" &&
	sock=$(cpath /etc/elp/services/auth.xml listen) &&
	alog=$(cpath /etc/elp/gateway.xml access) &&
	spawn auth chroot "$R" env -i PATH=$PATH_IN setpriv --reuid=elp \
	    --regid=elp --init-groups sh -c "cd $W &&
	    exec /usr/sbin/elp-auth -c /etc/elp/services/auth.xml" &&
	wait_for test -S "$R$sock" &&
	spawn gateway chroot "$R" env -i PATH=$PATH_IN setpriv --reuid=elp \
	    --regid=elp --init-groups sh -c "cd $W &&
	    exec /usr/sbin/elp-gateway -c /etc/elp/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	code=$(http GET "http://127.0.0.1:$IDP_PORT/realms/e-learning-platform/protocol/openid-connect/certs") &&
	expect_eq "$code" 200 &&
	expect_eq "$(json "j[\"keys\"][0][\"kty\"]")" RSA &&
	expect_eq "$(in_root stat -c %U "$sock")" elp &&
	test -s "$R$alog" &&
	expect_eq "$(in_root stat -c %U "$alog")" elp &&
	stop_pid $pid_gateway && stop_pid $pid_auth
'

test_expect_success 'an upgrade keeps the edited conffile and restarts what runs' '
	printf "%s\n" elp-gateway.service elp@auth.service >"$R/run/active" &&
	: >"$R/run/systemctl.log" &&
	in_root dpkg -i /tmp/debs/elp-common.deb /tmp/debs/elp-gateway.deb \
	    /tmp/debs/elp-services.deb >"$T/dpkg-u.out" 2>&1 ||
	    { cat "$T/dpkg-u.out"; return 1; }
	cat "$R/run/systemctl.log" &&
	grep -q "127.0.0.1:$ADMIN_PORT" "$R/etc/elp/gateway.xml" &&
	expect_eq "$(in_root stat -c "%U %G %a" /etc/elp/services.xml)" "root elp 640" &&
	grep -Eq "(^| )restart elp-gateway.service$" "$R/run/systemctl.log" &&
	grep -Eq "(^| )restart elp@auth.service$" "$R/run/systemctl.log" &&
	! grep -E "(^| )(start|restart) .*elp@course" "$R/run/systemctl.log" &&
	! grep -E "(^| )stop " "$R/run/systemctl.log"
'

test_expect_success 'dpkg -r stops the units, keeps the conffiles, --purge removes them; data and user stay' '
	: >"$R/run/systemctl.log" &&
	in_root dpkg -r elp-gateway elp-services elp-common >"$T/dpkg-r.out" 2>&1 ||
	    { cat "$T/dpkg-r.out"; return 1; }
	cat "$R/run/systemctl.log" &&
	grep -q "^stop elp-gateway.service$" "$R/run/systemctl.log" &&
	grep "^stop elp@" "$R/run/systemctl.log" >"$T/stops" &&
	for u in auth user course content messaging; do
		grep -q " elp@$u.service" "$T/stops" || return 1
	done &&
	! test -e "$R/usr/sbin/elp-gateway" && ! test -e "$R/usr/sbin/elp-auth" &&
	! test -e "$R/usr/share/elp" && ! test -e "$R/lib/systemd/system/elp.target" &&
	test -f "$R/etc/elp/gateway.xml" &&
	in_root dpkg-query -W -f="\${Status}\n" elp-common >"$T/st" &&
	grep -q "config-files" "$T/st" &&
	in_root dpkg --purge elp-gateway elp-services elp-common \
	    >"$T/dpkg-purge.out" 2>&1 || { cat "$T/dpkg-purge.out"; return 1; }
	# What scripts/auth made (the secrets) is the administrator s, like
	# the state: nothing else is left in /etc/elp.
	expect_eq "$(cd "$R/etc/elp" && find . -mindepth 1 ! -path "./secrets*")" "" &&
	! test -e "$R/etc/logrotate.d/elp" &&
	! in_root dpkg-query -W elp-common >/dev/null 2>&1 &&
	! test -e "$R/var/lib/dpkg/info/elp-common.list" &&
	# The state (keys, secrets, media) and the account are the
	# administrator s to remove.
	test -f "$R$secret" && test -d "$R$W" && in_root getent passwd elp
'

test_expect_success 'nothing of it outside: mounts gone, host files unchanged' '
	test_cleanup &&
	root_umount &&
	sha256sum -c --quiet "$T/host.sum" &&
	dpkg-query -W -f="\${Status}\n" elp-common >"$T/host.st2" 2>&1;
	cmp "$T/host.st" "$T/host.st2" &&
	! test -e /.elp-t1007
'

root_umount 2>/dev/null
test_done
