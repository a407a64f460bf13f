# elp: e-learning platform backend. One Makefile for the whole tree.
#
#   make            build everything into build/
#   make SAN=1      build with AddressSanitizer + UBSan into build/san/
#   make test       unit + integration tests, then again under SAN=1, + fuzz
#   make run        install deps, build, start the whole stack (foreground)
#   make start/stop the same stack in the background
#   make fuzz       longer libFuzzer runs of the codecs
#   make bench      gateway vs nginx and HAProxy benchmark (docs/benchmarks.md)
#   make bench-idle its memory per idle keep-alive connection scenario only
#   make version    print the version the programs get (git describe)
#   make backup     one archive of the dev databases, media, keys and secrets
#                   (scripts/backup; restore with scripts/backup restore FILE)
#   make install    programs, configuration, systemd units and manual pages
#                   (DESTDIR, PREFIX)
#   make deb        Debian packages elp-common, elp-gateway, elp-services
#                   into build/deb/ (debian/, debhelper)

# Every rule is written here: make need not try its built-in ones (that
# halves the time of a make with nothing to do).
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:

CC	?= cc
SAN	?= 0
V	?= 0

ifeq ($(SAN),1)
BUILD	?= build/san
OPT	 = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	   -fno-sanitize-recover=undefined
LDSAN	 = -fsanitize=address,undefined
else
BUILD	?= build
OPT	 = -O2 -g -D_FORTIFY_SOURCE=2
LDSAN	 =
endif

# Libraries found by pkg-config and headers found by the compiler, each with
# the Debian package that provides it (scripts/install-deps installs them).
DEP_PC	 = libxml-2.0=libxml2-dev jansson=libjansson-dev \
	   libcurl=libcurl4-openssl-dev openssl=libssl-dev \
	   libmariadb=libmariadb-dev libsystemd=libsystemd-dev \
	   libargon2=libargon2-dev libmagic=libmagic-dev
DEP_H	 = fcgiapp.h=libfcgi-dev cmocka.h=libcmocka-dev
PKGS	 = $(foreach d,$(DEP_PC),$(firstword $(subst =, ,$(d))))
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN	 = -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
	   -Wshadow -Wpointer-arith -Wcast-qual
CFLAGS	+= -std=c11 $(WARN) $(OPT) -fstack-protector-strong -fPIE \
	   -D_GNU_SOURCE -Ishared -Iproxy $(PKG_CFLAGS)
LDFLAGS	+= -pie -Wl,-z,relro,-z,now $(LDSAN)
LDLIBS	 = $(PKG_LIBS) -lfcgi -lpthread

ifeq ($(V),0)
Q	 = @
E	 = @printf '  %-6s %s\n'
else
Q	 =
E	 = @true
endif

# --- sources ---------------------------------------------------------------
ELP_SRC	  := $(sort $(wildcard shared/*.c))
ELP_OBJ	  := $(ELP_SRC:%.c=$(BUILD)/%.o)
LIBELP	  := $(BUILD)/libelp.a

PROXY_SRC := $(sort $(filter-out proxy/main.c,$(wildcard proxy/*.c)))
PROXY_OBJ := $(PROXY_SRC:%.c=$(BUILD)/%.o)
LIBPROXY  := $(BUILD)/libproxy.a
GATEWAY	  := $(BUILD)/bin/elp-gateway

APPS	  := $(notdir $(patsubst %/,%,$(dir $(wildcard fcgi-apps/*/main.c))))
APP_BINS  := $(APPS:%=$(BUILD)/bin/elp-%)

UNIT_SRC  := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/%)
HELPER_SRC:= $(sort $(wildcard t/helper/*.c))
HELPER_BINS := $(HELPER_SRC:t/helper/%.c=$(BUILD)/t/helper/%)

ALL_BINS  := $(GATEWAY) $(APP_BINS) $(HELPER_BINS)

.PHONY: FORCE version all test test-once unit integ fuzz fuzz-short bench \
	bench-idle run start stop check-headers check-deps clean install \
	install-deps db-start db-stop format deb
all: $(ALL_BINS) $(UNIT_BINS)
FORCE:

# Before anything compiles: every library and header present, or a list of
# the Debian packages that are missing and how to get them. Silent when
# everything is there.
check-deps:
	$(Q)miss=""; \
	if command -v pkg-config >/dev/null 2>&1; then \
	    for d in $(DEP_PC); do \
		pkg-config --exists "$${d%%=*}" || \
		    miss="$$miss;  $${d#*=} (pkg-config module $${d%%=*})"; \
	    done; \
	else \
	    miss="$$miss;  pkg-config"; \
	fi; \
	command -v $(firstword $(CC)) >/dev/null 2>&1 || \
	    miss="$$miss;  build-essential (compiler $(firstword $(CC)))"; \
	for d in $(DEP_H); do \
	    printf '#include <%s>\n' "$${d%%=*}" | \
		$(CC) -E -x c - >/dev/null 2>&1 || \
		miss="$$miss;  $${d#*=} (header $${d%%=*})"; \
	done; \
	[ -z "$$miss" ] && exit 0; \
	printf 'elp: missing build dependencies (Debian packages):%s\n' \
	    "$$miss" | tr ';' '\n' >&2; \
	echo "Install them with 'make install-deps' (that is" \
	    "scripts/install-deps; root or sudo), then build again." >&2; \
	exit 1

$(BUILD)/%.o: %.c | check-deps
	$(E) CC $<
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The version: git describe in a checkout, else the VERSION file, else
# "unknown". Only version.o is compiled with it, and it depends on a stamp
# rewritten only when the string changes, so a new commit recompiles one
# file and relinks the programs.
ELP_VERSION := $(shell v=$$( (git -C $(CURDIR) describe --always --dirty || \
		cat $(CURDIR)/VERSION) 2>/dev/null | head -n 1 | \
		tr -cd 'A-Za-z0-9._+~-'); echo $${v:-unknown})

version:
	@echo '$(ELP_VERSION)'

$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	$(Q)echo '$(ELP_VERSION)' | cmp -s - $@ 2>/dev/null || \
	    echo '$(ELP_VERSION)' >$@

$(BUILD)/shared/version.o: $(BUILD)/version.stamp
$(BUILD)/shared/version.o: CFLAGS += -DELP_VERSION='"$(ELP_VERSION)"'

$(LIBELP): $(ELP_OBJ)
	$(E) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBPROXY): $(PROXY_OBJ)
	$(E) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(GATEWAY): $(BUILD)/proxy/main.o $(LIBPROXY) $(LIBELP)
	$(E) LD $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Each app links its own objects with libelp. Objects reached only through
# that rule would count as intermediate and be deleted after the link.
.SECONDARY:
.SECONDEXPANSION:
$(BUILD)/bin/elp-%: $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(basename $$(wildcard fcgi-apps/$$*/*.c)))) $(LIBELP)
	$(E) LD $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link libproxy too, so the gateway's codecs are testable.
# Extra link flags per test (e.g. -Wl,--wrap=) go in t/unit/test_X.ldflags.
$(BUILD)/t/test_%: $(BUILD)/t/unit/test_%.o $(LIBPROXY) $(LIBELP)
	$(E) LD $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBPROXY) $(LIBELP) \
	    $(shell cat t/unit/test_$*.ldflags 2>/dev/null) $(LDLIBS) -lcmocka

$(BUILD)/t/helper/%: $(BUILD)/t/helper/%.o $(LIBPROXY) $(LIBELP)
	$(E) LD $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- schema versions --------------------------------------------------------
# Each service links the list of its migrations (shared/schema.h), generated
# from fcgi-apps/<svc>/migrations; at start it refuses a database that lacks
# one. The directory is a prerequisite, so adding a file regenerates it.
$(APP_BINS): $(BUILD)/bin/elp-%: $(BUILD)/gen/%/migrations.o

$(BUILD)/gen/%/migrations.c: $$(wildcard fcgi-apps/$$*/migrations \
    fcgi-apps/$$*/migrations/*.sql)
	$(E) GEN $@
	@mkdir -p $(dir $@)
	$(Q){ echo '/* Generated by make from fcgi-apps/$*/migrations. */'; \
	echo '#include "schema.h"'; echo; \
	echo 'static const struct schema_mig migs[] = {'; \
	n=0; for f in $$(ls fcgi-apps/$*/migrations 2>/dev/null | sort); do \
		case $$f in \
		[0-9][0-9][0-9][0-9]-*.sql) ;; \
		*) continue ;; \
		esac; \
		case $$f in *[!A-Za-z0-9._-]*) \
		    echo "$$f: name outside [A-Za-z0-9._-]" >&2; exit 1 ;; \
		esac; \
		v=$$(echo "$$f" | sed 's/-.*//; s/^0*//'); \
		printf '\t{ %s, "%s" },\n' "$${v:-0}" "$$f"; n=$$((n + 1)); \
	done; \
	printf '\t{ 0, NULL },\n};\n\n'; \
	printf 'const struct schema_set schema_app = { migs, %s };\n' "$$n"; \
	} >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c | check-deps
	$(E) CC $<
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# --- tests -----------------------------------------------------------------
# make test: everything once normally, once under sanitizers, then a short
# fuzz run. t/run prints the summary line last.
# Like run and start, they first install missing packages (a no-op when
# everything is present), so a fresh machine can begin with make test.
test: install-deps
	$(Q)./t/run all

# One pass with the current SAN setting.
test-once: install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./t/run once

unit: install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./t/run unit

integ: install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) ./t/run integ

# --- fuzzing (clang + libFuzzer) ------------------------------------------
FUZZ_SRC  := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:t/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS = -std=c11 -g -O1 -D_GNU_SOURCE -Ishared -Iproxy \
	      -fsanitize=fuzzer,address,undefined
FUZZ_TIME ?= 60

# The code under test lives in proxy/ or in shared/. More sources and
# libraries it needs, when any, go in t/fuzz/fuzz_X.extra.
FUZZ_EXTRA = $(shell cat t/fuzz/fuzz_$(1).extra 2>/dev/null)
build/fuzz/fuzz_%: t/fuzz/fuzz_%.c $$(wildcard proxy/$$*.c shared/$$*.c) \
    $$(filter %.c,$$(call FUZZ_EXTRA,$$*)) $(wildcard proxy/*.h shared/*.h)
	$(E) FUZZ $@
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) -o $@ t/fuzz/fuzz_$*.c \
	    $(wildcard proxy/$*.c shared/$*.c) $(call FUZZ_EXTRA,$*)

fuzz: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_BINS); do \
	    mkdir -p var/fuzz/$$(basename $$f) && \
	    $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	        -artifact_prefix=var/fuzz/ \
	        var/fuzz/$$(basename $$f) t/fuzz/corpus/$$(basename $$f) \
	        || exit 1; \
	done

fuzz-short:
	$(Q)$(MAKE) --no-print-directory fuzz FUZZ_TIME=10

# --- running the stack ----------------------------------------------------
install-deps:
	$(Q)./scripts/install-deps

run: install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./scripts/stack run

start: install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./scripts/stack start

stop:
	$(Q)./scripts/stack stop

.PHONY: backup
backup:
	$(Q)./scripts/backup backup

bench: all
	$(Q)./scripts/bench

bench-idle: all
	$(Q)BENCH_SCENARIOS=idle ./scripts/bench

# --- installing -------------------------------------------------------------
# make install [DESTDIR=...] [PREFIX=/usr/local]: programs, configuration
# (a file that exists is never replaced: sysadmins edit them; schemas are),
# systemd units, sysusers/tmpfiles snippets, logrotate, the database and
# auth scripts with the migrations, and the manual pages (man/, mdoc).
# The configuration's ../var/ paths (the source tree's, for make run)
# become the FHS layout: CONFDIR, STATEDIR, LOGDIR, RUNDIR, DBSOCKET.
# Ownership comes later, from the tmpfiles snippet (root:elp config,
# elp-owned state). conf/systemd/README.md says what then.
PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
DATADIR	?= $(PREFIX)/share/elp
SYSCONFDIR ?= /etc
CONFDIR	?= $(SYSCONFDIR)/elp
STATEDIR ?= /var/lib/elp
LOGDIR	?= /var/log/elp
RUNDIR	?= /run/elp
DBSOCKET ?= /run/mysqld/mysqld.sock
UNITDIR	?= $(PREFIX)/lib/systemd/system
SYSLIBDIR ?= $(PREFIX)/lib
MANDIR	?= $(PREFIX)/share/man
MAN5	:= $(sort $(wildcard man/*.5))
MAN8	:= $(sort $(wildcard man/*.8))
SUBST	 = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' \
	   -e 's|@STATEDIR@|$(STATEDIR)|g' -e 's|@LOGDIR@|$(LOGDIR)|g' \
	   -e 's|@RUNDIR@|$(RUNDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'
# The shipped configuration's var/ paths, relative to their files, to the
# installed layout.
VARP	 = "\(\.\./\)*var
CONFSUBST = sed -e 's|"unix:\(\.\./\)*var/run/|"unix:$(RUNDIR)/|g' \
	   -e 's|$(VARP)/run/|"$(RUNDIR)/|g' \
	   -e 's|$(VARP)/run"|"$(RUNDIR)"|g' \
	   -e 's|$(VARP)/log/|"$(LOGDIR)/|g' \
	   -e 's|$(VARP)/secrets/|"$(CONFDIR)/secrets/|g' \
	   -e 's|$(VARP)/auth/keys"|"$(STATEDIR)/keys"|g' \
	   -e 's|$(VARP)/media"|"$(STATEDIR)/media"|g' \
	   -e 's|$(VARP)/tmp"|"$(STATEDIR)/tmp"|g' \
	   -e 's|$(VARP)/confd"|"$(STATEDIR)/confd"|g' \
	   -e 's|$(VARP)/confd/|"$(STATEDIR)/confd/|g' \
	   -e 's|$(VARP)/mariadb/mysqld.sock"|"$(DBSOCKET)"|g'
# The scripts' DEF_* lines name the source tree; installed, they name the
# installed paths, the service account and the system's MariaDB.
SCRIPTSUBST = sed -e 's|^DEF_VAR=.*|DEF_VAR=$(STATEDIR)|' \
	   -e 's|^DEF_DATA=.*|DEF_DATA=$(DATADIR)|' \
	   -e 's|^DEF_CONF=.*|DEF_CONF=$(CONFDIR)|' \
	   -e 's|^DEF_BIN=.*|DEF_BIN=$(SBINDIR)|' \
	   -e 's|^DEF_SECRETS=.*|DEF_SECRETS=$(CONFDIR)/secrets|' \
	   -e 's|^DEF_KEYS=.*|DEF_KEYS=$(STATEDIR)/keys|' \
	   -e 's|^DEF_OWNER=.*|DEF_OWNER=elp:elp|' \
	   -e 's|^DEF_DB_EXTERNAL=.*|DEF_DB_EXTERNAL=1|' \
	   -e 's|^DEF_DB_SOCKET=.*|DEF_DB_SOCKET=$(DBSOCKET)|' \
	   -e 's|^DEF_LOG=.*|DEF_LOG=$(LOGDIR)|'

install: all
	$(E) INSTALL "$(DESTDIR)"
	$(Q)install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSLIBDIR)/sysusers.d $(DESTDIR)$(SYSLIBDIR)/tmpfiles.d \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(DATADIR)/scripts \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -d -m 0750 $(DESTDIR)$(CONFDIR) $(DESTDIR)$(CONFDIR)/schema \
	    $(DESTDIR)$(CONFDIR)/services $(DESTDIR)$(CONFDIR)/secrets
	$(Q)install -m 0755 $(GATEWAY) $(APP_BINS) $(DESTDIR)$(SBINDIR)/
	$(Q)install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(Q)install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(Q)install -m 0640 conf/schema/*.xsd $(DESTDIR)$(CONFDIR)/schema/
	$(Q)cd conf && find gateway.xml services.xml services profiles templates -type f \
	    2>/dev/null | while read -r f; do \
		d=$(DESTDIR)$(CONFDIR)/$$f; \
		if [ -e "$$d" ]; then echo "  kept   $$d"; continue; fi; \
		install -d -m 0750 "$$(dirname "$$d")" && \
		$(CONFSUBST) "$$f" >"$$d.new" && chmod 0640 "$$d.new" && \
		mv "$$d.new" "$$d" || exit 1; \
	done
	$(Q)find $(DESTDIR)$(CONFDIR) -type d -exec chmod 0750 {} +
	$(Q)for u in elp-gateway.service elp@.service; do \
		$(SUBST) conf/systemd/$$u.in >$(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(Q)install -m 0644 conf/systemd/elp.target $(DESTDIR)$(UNITDIR)/
	$(Q)$(SUBST) conf/systemd/elp.sysusers.in \
	    >$(DESTDIR)$(SYSLIBDIR)/sysusers.d/elp.conf
	$(Q)$(SUBST) conf/systemd/elp.tmpfiles.in \
	    >$(DESTDIR)$(SYSLIBDIR)/tmpfiles.d/elp.conf
	$(Q)$(SUBST) conf/systemd/elp.logrotate.in \
	    >$(DESTDIR)$(SYSCONFDIR)/logrotate.d/elp
	$(Q)for s in db auth backup elpctl; do \
		$(SCRIPTSUBST) scripts/$$s >$(DESTDIR)$(DATADIR)/scripts/$$s && \
		chmod 0755 $(DESTDIR)$(DATADIR)/scripts/$$s || exit 1; \
	done
	$(Q)for m in fcgi-apps/*/migrations/*.sql; do \
		install -D -m 0644 "$$m" "$(DESTDIR)$(DATADIR)/$$m" || exit 1; \
	done

# --- Debian packages ----------------------------------------------------------
# make deb: the .debs of debian/ (elp-common, elp-gateway, elp-services)
# in DEB_DIR. The tree is copied to DEB_DIR/src with the normal build/ (so
# nothing compiles twice) and a VERSION file; debian/changelog is written
# there with this tree's version made a Debian one (v1.2-3-gabc becomes
# 1.2+3.gabc; with no tag, a bare hash H becomes 0~COMMITS.H); and
# dpkg-buildpackage -b runs in the copy, so its output lands in DEB_DIR and
# the checkout stays clean. No input read; root or not.
DEB_DIR	?= build/deb
DEB_VERSION = $(shell v='$(ELP_VERSION)'; v=$${v#v}; case $${v%-dirty} in \
	([0-9]*[!0-9a-f]*) echo "$$v" | sed -e 's/-\([0-9][0-9]*\)-g\([0-9a-f]*\)/+\1.g\2/' \
	    -e 's/[-_]/+/g' ;; \
	(*) n=$$(git -C $(CURDIR) rev-list --count HEAD 2>/dev/null || echo 0); \
	    echo "0~$$n.$$v" | tr -- '-_' '++' ;; esac)
DEB_MAINT = $(shell sed -n 's/^Maintainer: //p' debian/control)

deb:
	$(Q)$(MAKE) --no-print-directory SAN=0 BUILD=build all
	$(E) DEB "$(DEB_DIR) $(DEB_VERSION)"
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	$(Q)tar -c --exclude=./build --exclude=./var --exclude=./.git . | \
	    tar -x -C $(DEB_DIR)/src
	$(Q)tar -c --exclude=build/san --exclude=build/fuzz \
	    --exclude=$(DEB_DIR) build | tar -x -C $(DEB_DIR)/src
	$(Q)echo '$(ELP_VERSION)' >$(DEB_DIR)/src/VERSION
	$(Q)t=$$(git -C $(CURDIR) log -1 --format=%ct 2>/dev/null || date +%s); \
	printf '%s\n' 'elp ($(DEB_VERSION)) unstable; urgency=medium' '' \
	    '  * Built from $(ELP_VERSION).' '' \
	    " -- $(DEB_MAINT)  $$(date -R -u -d @$$t)" \
	    >$(DEB_DIR)/src/debian/changelog
	$(Q)cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -b -nc --no-sign </dev/null >../build.log 2>&1 || \
	    { tail -n 40 ../build.log >&2; \
	      echo "make deb: failed, log in $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)ls $(DEB_DIR)/*.deb

# --- hygiene ----------------------------------------------------------------
HEADERS := $(sort $(wildcard shared/*.h proxy/*.h fcgi-apps/*/*.h))
check-headers: | check-deps
	$(Q)for h in $(HEADERS); do \
	    printf '#include "%s"\n' "$$h" | \
	    $(CC) $(CFLAGS) -I. -x c -fsyntax-only - || exit 1; \
	done; echo "  headers: $(words $(HEADERS)) self-contained"

format:
	$(Q)clang-format -i $(ELP_SRC) $(PROXY_SRC) $(HEADERS)

clean:
	rm -rf build

# Header dependencies (not those of the copy make deb builds in).
-include $(shell find $(BUILD) -path $(BUILD)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
