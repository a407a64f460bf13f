#!/bin/sh
# The shipped rate limits against a login flood, on the real stack
# (MariaDB, elp-auth, a 2-worker gateway with the <rate-limit> zones and
# the identity route's <limit>s of conf/gateway.xml): bogus logins from
# 127.0.0.2 (the login form and the password grant, wrong passwords and
# unknown users) get 429 with Retry-After, while a genuine user on
# 127.0.0.3 refreshes its tokens and fetches the JWKS throughout, every
# answer 200 (a 503 is a failure).
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'

create_user() {	# create_user EMAIL
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role USER
}

# The zones of conf/gateway.xml, then its identity route's limits on the
# test's identity route.
shipped_limits() {
	python3 - "$ROOT/conf/gateway.xml" <<'PY'
import sys, xml.etree.ElementTree as E
root = E.parse(sys.argv[1]).getroot()
for z in root.iter("rate-limit"):
    print("  " + E.tostring(z, encoding="unicode").strip())
for r in root.iter("route"):
    if r.get("listen") == "idp" and r.get("prefix") == "/realms/e-learning-platform":
        print("  <route listen='idp' prefix='/realms/e-learning-platform' service='auth'>")
        for l in r.iter("limit"):
            print("    " + E.tostring(l, encoding="unicode").strip())
        print("  </route>")
PY
}

test_expect_success 'start MariaDB, elp-auth and the gateway with the shipped limits' '
	db_up && auth_up &&
	shipped_limits >"$T/limits" &&
	grep -q "login-actions/authenticate" "$T/limits" &&
	grep -q "openid-connect/token" "$T/limits" &&
	ROUTES="$(cat "$T/limits")
$(printf "%s\n" "$ROUTES" | grep -v "listen=.idp.")" \
	GW_WORKERS=2 gateway_up &&
	create_user user@example.com >"$T/user.id" &&
	create_user victim@example.com >"$T/victim.id"
'

test_expect_success 'a login flood from one address beside a genuine user' '
	python3 "$ROOT/t/helper/login-flood.py" "$ISS" user@example.com \
	    "$PW" 5 >"$T/body" && cat "$T/body"
'

test_expect_success 'the flood got 429s on the login form and the token endpoint' '
	[ "$(json "j[\"flood\"].get(\"form:429\", 0)")" -gt 0 ] &&
	[ "$(json "j[\"flood\"].get(\"token:429\", 0)")" -gt 0 ] &&
	expect_eq "$(json "j[\"flood\"].get(\"error\", 0)")" 0 &&
	expect_eq "$(json "[k for k in j[\"flood\"] if k.endswith(\":503\")]")" "[]"
'

test_expect_success 'at most the login zone'"'"'s burst of form posts reached elp-auth' '
	n=$(grep -c "^127\.0\.0\.2 .*\"POST /realms/e-learning-platform/login-actions/authenticate[? ].* rid=.* ins=auth@" "$T/log/access.log") &&
	echo "form posts passed: $n" && [ "$n" -le 11 ] && [ "$n" -ge 1 ] &&
	loggrep access.log "^127\.0\.0\.2 .*\"POST /realms/e-learning-platform/login-actions/authenticate[? ].* 429 .* limit=login$" &&
	loggrep access.log "^127\.0\.0\.2 .*\"POST /realms/e-learning-platform/protocol/openid-connect/token HTTP/1.1\" 429 .* limit=token$"
'

test_expect_success 'the genuine user: every refresh and JWKS fetch 200' '
	[ "$(json "j[\"genuine\"].get(\"200\", 0)")" -ge 10 ] &&
	expect_eq "$(json "sorted(j[\"genuine\"])")" "[\"200\"]" &&
	! grep "^127\.0\.0\.3 .*\" [^2][0-9][0-9] " "$T/log/access.log"
'

test_expect_success '/metrics: the login and token zones limited, the table filled' '
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/metrics" &&
	grep -E "^elp_rate_limit_requests_total\{zone=\"login\",outcome=\"limited\"\} [1-9]" "$T/metrics" &&
	grep -E "^elp_rate_limit_requests_total\{zone=\"token\",outcome=\"limited\"\} [1-9]" "$T/metrics" &&
	grep -E "^elp_rate_limit_entries\{zone=\"login\"\} [1-9]" "$T/metrics"
'

test_done
