#!/bin/sh
# Released schema migrations never change: scripts/db records each one's
# sha256 when it applies it and refuses a file whose checksum differs, so
# an edited migration would stop every existing database from migrating.
# fcgi-apps/migrations.sha256 lists the released ones; a new migration is
# added to it in the commit that adds it.
. "$(dirname "$0")/lib.sh"

test_expect_success 'every released migration has the bytes it was released with' '
	(cd "$ROOT/fcgi-apps" && sha256sum --quiet -c migrations.sha256)
'

test_expect_success 'every migration is listed (add new ones to migrations.sha256)' '
	(cd "$ROOT/fcgi-apps" && ls */migrations/*.sql) >"$T/files" &&
	cut -d" " -f3 "$ROOT/fcgi-apps/migrations.sha256" | sort >"$T/listed" &&
	sort "$T/files" | diff - "$T/listed"
'

test_done
