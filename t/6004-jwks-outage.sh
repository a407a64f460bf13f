#!/bin/sh
# The identity provider's keys at the gateway while elp-auth is down: a
# token that cannot be checked gets 503 with Retry-After and the JSON
# envelope on every route kind, never 401 (the browser client would log its
# user out) and never anonymous; checkably bad tokens stay 401; the keys
# live in the shared area, so workers started by a SIGHUP have them at
# once; an ID token never passes as an access token; a key removed from the
# JWKS stops being accepted within one refresh interval; the JWKS metrics.
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'

create_user() {	# create_user EMAIL ROLE
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Test --last User --role "$2"
}

grant() {	# grant EMAIL FIELD: a token from the password grant
	curl -s -d grant_type=password -d client_id=admin-cli -d scope=openid \
	    --data-urlencode "username=$1" --data-urlencode "password=$PW" \
	    "$ISS/protocol/openid-connect/token" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

kid() {		# kid TOKEN: the kid of its header
	python3 -c 'import base64,json,sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])' "$1"
}

with_kid() {	# with_kid TOKEN KID: TOKEN with a header naming KID
	python3 -c 'import base64,sys
t, kid = sys.argv[1], sys.argv[2]
h = ("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}" % kid).encode()
print(base64.urlsafe_b64encode(h).rstrip(b"=").decode() + t[t.index("."):])' "$1" "$2"
}

jwks_is() {	# jwks_is KIDS: elp-auth publishes exactly these kids (JSON list)
	curl -s "$ISS/protocol/openid-connect/certs" >"$T/body" &&
	expect_eq "$(json "[k[\"kid\"] for k in j[\"keys\"]]")" "$1"
}

metric() {	# metric NAME: its value in the gateway's /metrics
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
	awk -v n="$1" '$1 == n { print $2 }'
}

auth_conf_gw() {	# auth_conf_gw REFRESH: the gateway's <auth>
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" leeway=\"0s\" refresh=\"$1\" refresh-min=\"1s\" timeout=\"700ms\"/>"
}

# expect_503: the last response is the keys-unavailable 503.
expect_503() {
	expect_eq "$1" 503 &&
	grep -Eqi "^retry-after: [1-9][0-9]*" "$T/headers" &&
	! grep -qi "^www-authenticate" "$T/headers" &&
	expect_eq "$(json "j[\"errorBody\"][\"errorCode\"]")" 503 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" \
	    "Identity provider keys unavailable"
}

# until_200 URL TOKEN: polls for up to 10 s until 200; any status but 503
# and 200 on the way fails.
until_200() {
	i=0
	while [ $i -lt 50 ]; do
		st=$(http GET "$1" -H "Authorization: Bearer $2")
		case $st in
		200) return 0 ;;
		503) ;;
		*) echo "status $st while waiting for 200"; return 1 ;;
		esac
		sleep 0.2
		i=$((i + 1))
	done
	echo "still $st after 10 s"
	return 1
}

# workers: the PIDs of the gateway's workers now.
workers() {
	ps -o pid= --ppid "$pid_gateway" | tr -d ' '
}

# reload: SIGHUP, then waits until the workers of before are gone.
reload() {
	old=$(workers) &&
	kill -HUP "$pid_gateway" &&
	for p in $old; do
		wait_for sh -c "! kill -0 $p" || return 1
	done &&
	test -n "$(workers)"
}

auth_conf_gw 1h
ROUTES_GW="
  <route listen=\"api\" prefix=\"/pub\" service=\"echo\" rewrite=\"/\"/>
  <route listen=\"api\" prefix=\"/tok\" service=\"echo\" rewrite=\"/\" auth=\"token\"/>
  <route listen=\"api\" prefix=\"/adm\" service=\"echo\" rewrite=\"/\" auth=\"ADMIN\"/>"
A=http://127.0.0.1:$API_PORT

test_expect_success 'start MariaDB, elp-auth, fcgi-echo and the gateway; tokens' '
	db_up && auth_up && echo_up echo 2 &&
	ROUTES="$ROUTES$ROUTES_GW" &&
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"4\"/></service>" &&
	gateway_up &&
	loggrep gateway.log "JWKS loaded: 1 keys" &&
	create_user user@example.com USER >"$T/user.id" &&
	create_user admin@example.com ADMIN >"$T/admin.id" &&
	tu=$(grant user@example.com access_token) &&
	ta=$(grant admin@example.com access_token) &&
	tu2=$(grant user@example.com access_token) &&
	tu3=$(grant user@example.com access_token) &&
	tid=$(grant user@example.com id_token) &&
	kid_a=$(kid "$tu") && test -n "$kid_a" &&
	expect_eq "$(kid "$tid")" "$kid_a"
'

test_expect_success 'first start with elp-auth down: the workers start without keys' '
	stop_pid "$pid_auth" && stop_pid "$pid_gateway" &&
	gateway_up &&
	wait_for loggrep gateway.log "JWKS fetch from auth failed \(unreachable\)" &&
	expect_eq "$(metric elp_jwks_keys)" 0 &&
	expect_eq "$(metric elp_jwks_age_seconds)" +Inf
'

test_expect_success 'no keys: a valid token gets 503 + Retry-After on every route kind, never 401' '
	for r in pub tok adm; do
		expect_503 "$(http GET "$A/$r/whoami" -H "Authorization: Bearer $ta")" ||
		return 1
	done &&
	expect_503 "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu")" &&
	test "$(metric "elp_jwks_fetches_total{outcome=\"unreachable\"}")" -ge 1
'

test_expect_success 'no keys: no token on a public route is 200, a malformed token stays 401' '
	expect_eq "$(http GET "$A/pub/whoami")" 200 &&
	expect_eq "$(json "\"AUTH_SUB\" in j[\"responseBody\"]")" false &&
	expect_eq "$(http GET "$A/tok/whoami")" 401 &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer not.a.token")" 401 &&
	grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" "$T/headers" &&
	expect_eq "$(http GET "$A/pub/whoami" -H "Authorization: Bearer not.a.token")" 200
'

test_expect_success 'elp-auth back: the same token gets 200' '
	spawn auth "$BIN/elp-auth" -c "$T/conf/services/auth.xml" &&
	wait_for test -S "$T/run/auth.sock" &&
	until_200 "$A/tok/whoami" "$tu" &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_SUB\"]")" "$(cat "$T/user.id")" &&
	loggrep gateway.log "JWKS fetch from auth works again: 1 keys" &&
	expect_eq "$(metric elp_jwks_keys)" 1
'

test_expect_success 'an ID token is 401 "Invalid token type" on a token route, anonymous on a public one' '
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tid")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Invalid token type" &&
	grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" "$T/headers" &&
	expect_eq "$(http GET "$A/pub/whoami" -H "Authorization: Bearer $tid")" 200 &&
	expect_eq "$(json "\"AUTH_SUB\" in j[\"responseBody\"]")" false
'

test_expect_success 'a key rotated in during an outage: 503 for its tokens, known kids pass' '
	"$BIN/elp-auth" -c "$T/conf/services/auth.xml" rotate-keys >"$T/rot" 2>&1 &&
	wait_for grant admin@example.com access_token &&
	tb=$(grant admin@example.com access_token) &&
	kid_b=$(kid "$tb") && test "$kid_b" != "$kid_a" &&
	stop_pid "$pid_auth" &&
	sleep 1.1 &&
	expect_503 "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $tb")" &&
	expect_503 "$(http GET "$A/pub/whoami" -H "Authorization: Bearer $tb")" &&
	expect_503 "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tb")" &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu2")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_SUB\"]")" "$(cat "$T/user.id")"
'

test_expect_success 'SIGHUP with elp-auth down: new workers take a known kid at once' '
	n=$(grep -c "JWKS loaded\|JWKS refreshed\|works again" "$T/log/gateway.log") &&
	reload &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu3")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"AUTH_SUB\"]")" "$(cat "$T/user.id")" &&
	expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $ta")" 200 &&
	expect_503 "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $tb")" &&
	expect_eq "$(grep -c "JWKS loaded\|JWKS refreshed\|works again" "$T/log/gateway.log")" "$n"
'

test_expect_success 'elp-auth back: the rotated key is fetched, its token gets 200' '
	spawn auth "$BIN/elp-auth" -c "$T/conf/services/auth.xml" &&
	wait_for test -S "$T/run/auth.sock" &&
	until_200 "$A/adm/whoami" "$tb" &&
	loggrep gateway.log "JWKS refreshed: 2 keys" &&
	expect_eq "$(metric elp_jwks_keys)" 2
'

test_expect_success 'elp-auth hanging: an unknown kid waits for one fetch, then 503; known kids pass' '
	tx=$(with_kid "$tu" no-such-kid) &&
	expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tx")" 401 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Unknown token signing key" &&
	stop_pid "$pid_auth" &&
	spawn stall python3 "$ROOT/t/helper/fcgi-bad.py" "$T/run/auth.sock" stall &&
	wait_for test -S "$T/run/auth.sock" &&
	sleep 1.1 &&
	start=$(date +%s%N) && bg="" &&
	for i in 1 2 3 4; do
		curl -s -o "$T/body.$i" -D "$T/headers.$i" -w "%{http_code}" \
		    --max-time 20 -H "Authorization: Bearer $tx" \
		    "$A/tok/whoami" >"$T/status.$i" &
		bg="$bg $!"
	done &&
	sleep 0.3 &&
	expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $ta")" 200 &&
	wait $bg &&
	ms=$(( ($(date +%s%N) - start) / 1000000 )) && echo "503 after $ms ms" &&
	test "$ms" -ge 600 &&
	for i in 1 2 3 4; do
		cp "$T/body.$i" "$T/body" && cp "$T/headers.$i" "$T/headers" &&
		expect_503 "$(cat "$T/status.$i")" || return 1
	done &&
	grep -q "^open 1 /realms/e-learning-platform/protocol/openid-connect/certs " "$T/log/stall.log" &&
	! grep -q "^open [2-9][0-9]* /realms/e-learning-platform/protocol/openid-connect/certs " "$T/log/stall.log" &&
	stop_pid "$pid_stall" &&
	spawn auth "$BIN/elp-auth" -c "$T/conf/services/auth.xml" &&
	wait_for test -S "$T/run/auth.sock" &&
	wait_for sh -c "test \$(grep -c \"works again\" \"$T/log/gateway.log\") -ge 3" &&
	wait_for grant admin@example.com access_token
'

test_expect_success 'a key removed from the JWKS is refused within one refresh interval' '
	auth_conf_gw 2s && gateway_conf && reload &&
	for i in 1 2 3 4; do
		expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu")" 200 ||
		return 1
	done &&
	sleep 1 &&
	head -n 1 "$T/var/auth/keys/keys.state" >"$T/var/auth/keys/keys.state.new" &&
	chmod 600 "$T/var/auth/keys/keys.state.new" &&
	mv "$T/var/auth/keys/keys.state.new" "$T/var/auth/keys/keys.state" &&
	wait_for jwks_is "[\"$kid_b\"]" &&
	start=$(date +%s%N) &&
	while :; do
		st=$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu") ||
		return 1
		ms=$(( ($(date +%s%N) - start) / 1000000 ))
		[ "$st" = 200 ] || break
		[ "$ms" -lt 6000 ] || return 1
		sleep 0.1
	done &&
	echo "refused after $ms ms" &&
	expect_eq "$st" 401 &&
	test "$ms" -le 3500 &&
	expect_eq "$(json "j[\"errorBody\"][\"errorMessage\"]")" "Unknown token signing key" &&
	for i in 1 2 3 4; do
		expect_eq "$(http GET "$A/tok/whoami" -H "Authorization: Bearer $tu")" 401 &&
		expect_eq "$(http GET "$A/adm/whoami" -H "Authorization: Bearer $tb")" 200 ||
		return 1
	done
'

test_expect_success 'metrics: fetches by outcome, key count, age of the keys' '
	test "$(metric "elp_jwks_fetches_total{outcome=\"ok\"}")" -ge 3 &&
	test "$(metric "elp_jwks_fetches_total{outcome=\"unreachable\"}")" -ge 2 &&
	expect_eq "$(metric "elp_jwks_fetches_total{outcome=\"invalid\"}")" 0 &&
	expect_eq "$(metric elp_jwks_keys)" 1 &&
	python3 -c "import sys; sys.exit(not 0 <= float(sys.argv[1]) < 5)" \
	    "$(metric elp_jwks_age_seconds)"
'

test_done
