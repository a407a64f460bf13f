#!/bin/sh
# Login throttling in elp-auth through the gateway: wrong passwords from
# one address (127.0.0.2) lock only that (account, address) pair and never
# stop the account's owner from another address (127.0.0.3), who is at
# most slowed by a bounded delay; failures weigh less as they age (short
# half-life); unknown login names never reach the log; the bound on
# concurrent Argon2 work holds (a held slot turns logins away with 429 and
# Retry-After, a slot whose holder dies is free again) while token
# refresh, code exchange and the JWKS stay fast under a flood of bogus
# logins.
. "$(dirname "$0")/lib.sh"

AUTH_WORKERS=3
AUTH_T_COST=2
AUTH_M_COST=32768
AUTH_PASSWORD_ATTRS='max-concurrent="1" slot-wait="20ms"'
AUTH_BF_FAILURES=3
AUTH_BF_WAIT=3s
AUTH_BF_ATTRS='half-life="3s" account-failures="3" account-delay="300ms" account-max-delay="600ms"'
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'

oidc() {	# oidc SOURCE CMD ARGS...: oidc.py from address SOURCE
	src=$1
	shift
	OIDC_SOURCE=$src python3 "$ROOT/t/helper/oidc.py" "$ISS" "$@" >"$T/body"
}

pwgrant() {	# pwgrant SOURCE USER PASSWORD: status of a password grant
	oidc "$1" token grant_type=password client_id=admin-cli \
	    "username=$2" "password=$3" && json 'j["status"]'
}

# burst SOURCE USER PASSWORD N: statuses of N password grants sent back to
# back by one process (so that a loaded machine does not space them out).
burst() {
	python3 "$ROOT/t/helper/loginload.py" burst "$ISS" "$@"
}

test_expect_success 'start MariaDB, elp-auth (3 workers, 1 hashing slot) and the gateway' '
	db_up &&
	auth_up &&
	SERVICES_EXTRA="  <service name=\"auth\">
    <instance address=\"unix:$T/run/auth.sock\" maxconn=\"3\"/>
  </service>" gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email ada@example.com --first Ada --last Lovelace \
	    --role USER >"$T/ada.id"
'

test_expect_success 'elp-auth -t checks the throttling and hashing settings' '
	"$BIN/elp-auth" -t -c "$T/conf/services/auth.xml" &&
	B=$T/conf/services/bad.xml &&
	sed "s/max-concurrent=\"1\"/max-concurrent=\"3\"/" \
	    "$T/conf/services/auth.xml" >"$B" &&
	! "$BIN/elp-auth" -t -c "$B" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*:.*max-concurrent 3 leaves no worker" "$T/t.err" &&
	sed "s/half-life=\"3s\"/half-life=\"soon\"/" \
	    "$T/conf/services/auth.xml" >"$B" &&
	! "$BIN/elp-auth" -t -c "$B" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*:.*half-life" "$T/t.err" &&
	sed "s/wait=\"3s\"/wait=\"30s\"/" "$T/conf/services/auth.xml" >"$B" &&
	! "$BIN/elp-auth" -t -c "$B" 2>"$T/t.err" &&
	grep -q "bad.xml:[0-9]*:.*wait longer than max-wait" "$T/t.err" &&
	rm -f "$B"
'

test_expect_success 'wrong passwords from 127.0.0.2 lock that pair only' '
	expect_eq "$(burst 127.0.0.2 ada@example.com "Wrong#pass1" 4)" "[400, 400, 400, 400]" &&
	loggrep auth.log "user \"ada@example.com\" locked for 3 s for 127.0.0.2" &&
	expect_eq "$(pwgrant 127.0.0.2 ada@example.com "$PW")" 400 &&
	loggrep auth.log "login refused: user \"ada@example.com\" is temporarily locked \\(from 127.0.0.2\\)"
'

test_expect_success 'the owner logs in from 127.0.0.3 meanwhile (form and password grant)' '
	oidc 127.0.0.3 flow "$T/jar3" ada@example.com "$PW" &&
	expect_eq "$(json "j[\"login_status\"], j[\"token\"][\"status\"]")" "[302, 200]" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rt" &&
	for i in 1 2 3 4 5 6; do
		pwgrant 127.0.0.2 ada@example.com "Wrong#more$i" >/dev/null || return 1
	done &&
	expect_eq "$(pwgrant 127.0.0.3 ada@example.com "$PW")" 200 &&
	! grep -q "locked for .* for 127.0.0.3" "$T/log/auth.log"
'

test_expect_success 'failures from many addresses slow the account by a bounded delay, never lock it' '
	for a in 5 6 7; do
		expect_eq "$(burst 127.0.0.$a ada@example.com "Wrong#spread" 2)" "[400, 400]" || return 1
	done &&
	expect_eq "$(pwgrant 127.0.0.3 ada@example.com "$PW")" 200 &&
	loggrep auth.log "login: user \"ada@example.com\" slowed by (300|600) ms for failures from every address \\(from 127.0.0.3\\)" &&
	! grep -q "slowed by \([1-9][0-9]\{3,\}\|[0-9]\{1,2\}\) ms" "$T/log/auth.log" &&
	! grep -q "locked for .* for 127.0.0.[3567]" "$T/log/auth.log"
'

test_expect_success 'failures decay: two now and two a few half-lives later do not lock' '
	expect_eq "$(burst 127.0.0.4 ada@example.com "Wrong#decay" 2)" "[400, 400]" &&
	sleep 8 &&
	expect_eq "$(burst 127.0.0.4 ada@example.com "Wrong#decay" 2)" "[400, 400]" &&
	! grep -q "locked for .* for 127.0.0.4" "$T/log/auth.log" &&
	expect_eq "$(pwgrant 127.0.0.4 ada@example.com "$PW")" 200 &&
	expect_eq "$(burst 127.0.0.8 ada@example.com "Wrong#nodecay" 4)" "[400, 400, 400, 400]" &&
	loggrep auth.log "locked for 3 s for 127.0.0.8"
'

test_expect_success 'unknown login names are never logged, only a keyed hash' '
	expect_eq "$(pwgrant 127.0.0.2 Ghost.Name@example.com "Wrong#pass1")" 400 &&
	oidc 127.0.0.2 login "$T/jarG" ghost.name@example.com "Wrong#pass1" &&
	expect_eq "$(json "\"Invalid username or password.\" in j[\"body\"]")" true &&
	loggrep auth.log "login failed: no such user: unknown \\(#[0-9a-f]{12}\\) from 127.0.0.2" &&
	test "$(grep "no such user" "$T/log/auth.log" | sed "s/.*(#\([0-9a-f]*\)).*/\1/" | sort -u | wc -l)" -eq 1 &&
	! grep -qi "ghost" "$T/log/auth.log" &&
	! grep -q "Wrong#" "$T/log/auth.log"
'

# slot_holder: holds hashing slot 0 of the running pool (a record lock on
# byte 0 of the master's memfd) until killed; prints "held" once it has it.
slot_holder() {
	exec python3 -c '
import fcntl, os, sys, time
d = "/proc/%s/fd" % sys.argv[1]
fd = [f for f in os.listdir(d)
      if os.readlink(os.path.join(d, f)).startswith("/memfd:elp-auth-hash-slots")][0]
f = os.open(os.path.join(d, fd), os.O_RDWR)
fcntl.lockf(f, fcntl.LOCK_EX, 1, 0)
print("held", flush=True)
time.sleep(60)
' "$pid_auth"
}

test_expect_success 'no free hashing slot: 429 with Retry-After, a try-again page on the form' '
	slot_holder >"$T/holder.out" &
	holder=$! &&
	wait_for grep -q held "$T/holder.out" &&
	oidc 127.0.0.3 token grant_type=password client_id=admin-cli username=ada@example.com "password=$PW" &&
	expect_eq "$(json "j[\"status\"], j[\"body\"][\"error\"], j[\"headers\"][\"retry-after\"]")" \
	    "[429, \"temporarily_unavailable\", \"1\"]" &&
	oidc 127.0.0.3 login "$T/jarB" ada@example.com "$PW" &&
	expect_eq "$(json "j[\"status\"]")" 429 &&
	expect_eq "$(json "\"try again\" in j[\"body\"]")" true &&
	expect_eq "$(http GET "$ISS/protocol/openid-connect/certs")" 200 &&
	loggrep auth.log "no password-hashing slot free within 20 ms" &&
	kill -9 $holder && wait $holder 2>/dev/null;
	expect_eq "$(pwgrant 127.0.0.3 ada@example.com "$PW")" 200
'

test_expect_success 'a flood of bogus logins from 127.0.0.2: refresh, code and JWKS from 127.0.0.3 stay fast' '
	oidc 127.0.0.3 login "$T/jar3" ada@example.com - &&
	expect_eq "$(json "j[\"status\"]")" 302 &&
	python3 -c "import json, sys
j = json.load(open(sys.argv[1]))
print(json.dumps({\"refresh_token\": open(sys.argv[2]).read().strip(),
    \"code\": j[\"redirect\"][\"code\"], \"verifier\": j[\"verifier\"],
    \"redirect_uri\": j[\"params\"][\"redirect_uri\"]}))" "$T/body" "$T/rt" >"$T/state" &&
	python3 "$ROOT/t/helper/loginload.py" "$ISS" 6 8 127.0.0.2 127.0.0.3 \
	    "$T/state" >"$T/body" &&
	cat "$T/body" >&2 &&
	expect_eq "$(json "j[\"jwks\"][\"statuses\"], j[\"refresh\"][\"statuses\"], j[\"code\"][\"statuses\"]")" \
	    "[[200], [200], [200]]" &&
	expect_eq "$(json "j[\"attack\"].get(\"429\", 0) > 0 and j[\"retry_after\"]")" true &&
	expect_eq "$(json "j[\"jwks\"][\"n\"] >= 5")" true &&
	expect_eq "$(json "max(j[k][\"max\"] for k in (\"jwks\", \"refresh\", \"code\")) < 2.0")" true &&
	expect_eq "$(json "max(j[k][\"median\"] for k in (\"jwks\", \"refresh\")) < 0.5")" true
'

test_done
