#!/bin/sh
# Every program answers --help and --version (and -h, -V) with exit 0, and
# an unknown option or operand with its usage on stderr and exit 2. The
# version is the Makefile's (git describe, else VERSION, else "unknown"),
# compiled into shared/version.c alone, and the gateway's /metrics shows
# it as elp_build_info. The manual pages render without a warning, cover
# every program and option, and make install puts them under MANDIR.
. "$(dirname "$0")/lib.sh"

PROGS="elp-gateway elp-auth elp-user elp-course elp-content elp-messaging"

# out PROG ARGS...: runs it; stdout to $T/out, stderr to $T/err, prints
# the exit status.
out() {
	"$BIN/$@" >"$T/out" 2>"$T/err"
	echo $?
}

test_expect_success '--version and -V: "PROG VERSION", exit 0, one version' '
	for p in $PROGS; do
		expect_eq "$(out $p --version)" 0 &&
		! test -s "$T/err" &&
		expect_eq "$(wc -l <"$T/out")" 1 &&
		v=$(sed -n "s/^$p \([A-Za-z0-9._+~-][A-Za-z0-9._+~-]*\)\$/\1/p" "$T/out") &&
		test -n "$v" &&
		expect_eq "$(out $p -V)" 0 &&
		expect_eq "$(cat "$T/out")" "$p $v" &&
		echo "$v" >>"$T/versions" || return 1
	done &&
	expect_eq "$(sort -u "$T/versions" | wc -l)" 1
'

VERSION=$(head -n 1 "$T/versions" 2>/dev/null)

# Binaries built before the last commit or edit fail this: make all first
# (t/run does).
test_expect_success 'the version is git describe of this checkout' '
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		expect_eq "$VERSION" "$(git -C "$ROOT" describe --always --dirty)"
	else
		expect_eq "$VERSION" "$(make -s -C "$ROOT" version)"
	fi
'

test_expect_success 'outside a checkout: the VERSION file, else "unknown"' '
	mkdir -p "$T/src" && cp "$ROOT/Makefile" "$T/src/" &&
	expect_eq "$(GIT_DIR=$T/nogit make -s -C "$T/src" version)" unknown &&
	printf "1.2.3-rc1\n" >"$T/src/VERSION" &&
	expect_eq "$(GIT_DIR=$T/nogit make -s -C "$T/src" version)" 1.2.3-rc1
'

test_expect_success 'a new version recompiles shared/version.c alone' '
	make -n -s -C "$ROOT" BUILD="$BUILD" V=1 ELP_VERSION=9.9.9-test all \
	    >"$T/plan" &&
	grep -- " -c -o " "$T/plan" >"$T/compiles";
	expect_eq "$(wc -l <"$T/compiles")" 1 &&
	grep -q -- "-DELP_VERSION=.*9.9.9-test.* -o [^ ]*shared/version.o shared/version.c" "$T/compiles"
'

test_expect_success '--help and -h: usage with every option on stdout, exit 0' '
	for p in $PROGS; do
		for h in --help -h; do
			expect_eq "$(out $p $h)" 0 && ! test -s "$T/err" &&
			head -n 1 "$T/out" | grep -q "^usage: $p " || return 1
		done &&
		for o in "-c, --config FILE" "-t, --test" "-h, --help" \
		    "-V, --version"; do
			grep -q -e "^  $o " "$T/out" || return 1
		done || return 1
	done &&
	out elp-gateway --help && grep -q "^  -d, --debug " "$T/out" &&
	out elp-auth --help && grep -q "rotate-keys | create-user --email" "$T/out"
'

test_expect_success 'an unknown option: usage on stderr, exit 2' '
	for p in $PROGS; do
		for o in --no-such-option -Z; do
			expect_eq "$(out $p $o)" 2 && ! test -s "$T/out" &&
			grep -q "^usage: $p " "$T/err" || return 1
		done || return 1
	done
'

test_expect_success 'an unexpected operand: usage on stderr, exit 2' '
	for p in elp-gateway elp-user elp-course elp-content elp-messaging; do
		expect_eq "$(out $p extra)" 2 && grep -q "^usage: $p " "$T/err" ||
		    return 1
	done
'

test_expect_success '/metrics of a running gateway: elp_build_info with that version' '
	gateway_up &&
	curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/metrics" &&
	grep -qx "# TYPE elp_build_info gauge" "$T/metrics" &&
	expect_eq "$(grep "^elp_build_info" "$T/metrics")" \
	    "elp_build_info{version=\"$VERSION\"} 1"
'

# lint FILE: groff mdoc warnings (-ww) on stderr fail it.
lint() {
	groff -mandoc -Tutf8 -ww -z "$1" 2>"$T/lint.err" &&
	    ! test -s "$T/lint.err" || { cat "$T/lint.err"; return 1; }
}

test_expect_success 'the manual pages render without a warning' '
	for m in elp-gateway.8 elp-service.8 gateway.xml.5 services.xml.5 \
	    elp-service.xml.5 elp-backup.8; do
		lint "$ROOT/man/$m" || return 1
	done &&
	printf ".Dd x\n.Dt X 8\n.Os\n.Sh NAME\n.Nm x\n.Nd y\n.Bl -tag\n.It z\n" \
	    >"$T/bad.8" && ! lint "$T/bad.8"
'

test_expect_success 'the pages name every program and document every long option' '
	grep -qx ".Nm elp-gateway" "$ROOT/man/elp-gateway.8" &&
	for p in $PROGS; do
		case $p in
		elp-gateway) m=$ROOT/man/elp-gateway.8 ;;
		*) m=$ROOT/man/elp-service.8
		   grep -q "^\.Nm $p\( ,\)\{0,1\}\$" "$m" || return 1 ;;
		esac &&
		out $p --help &&
		for o in $(grep -o -- "--[a-z-]*" "$T/out" | sort -u); do
			grep -q -- "Fl \\\\-${o#--}\\>" "$m" ||
			    { echo "$p: $o not in $m"; return 1; }
		done || return 1
	done
'

# make install builds what is missing first: with the flags of $BUILD.
case $BUILD in
*san) MAKE_SAN=1 ;;
*) MAKE_SAN=0 ;;
esac

test_expect_success 'make install DESTDIR=... installs the pages under MANDIR' '
	make -s -C "$ROOT" BUILD="$BUILD" SAN=$MAKE_SAN install DESTDIR="$T/dest" \
	    PREFIX=/usr SYSCONFDIR=/etc STATEDIR=/var/lib/elp >"$T/install.out" &&
	M=$T/dest/usr/share/man &&
	for m in man8/elp-gateway.8 man8/elp-service.8 man5/gateway.xml.5 \
	    man5/services.xml.5 man5/elp-service.xml.5; do
		cmp "$ROOT/man/${m#*/}" "$M/$m" &&
		expect_eq "$(stat -c %a "$M/$m")" 644 || return 1
	done &&
	MANWIDTH=80 man -l "$M/man8/elp-gateway.8" 2>/dev/null |
	    grep -q "elp-gateway -- HTTP/1.1 reverse proxy\|elp-gateway . HTTP/1.1 reverse proxy" &&
	make -s -C "$ROOT" BUILD="$BUILD" SAN=$MAKE_SAN install DESTDIR="$T/dest2" \
	    PREFIX=/usr SYSCONFDIR=/etc STATEDIR=/var/lib/elp \
	    MANDIR=/usr/man >/dev/null &&
	test -f "$T/dest2/usr/man/man5/services.xml.5"
'

test_done
