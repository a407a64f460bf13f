#!/bin/sh
# Backends that break the FastCGI protocol get 502 envelopes, never a crash
# or a hang; a response split into one-byte writes is reassembled.
. "$(dirname "$0")/lib.sh"

svc() {	# svc NAME: a service with one instance on run/NAME.sock
	printf '  <service name="%s"><health enabled="no"/><instance address="unix:%s/run/%s.sock" maxconn="4"/></service>\n' "$1" "$T" "$1"
}
route() {
	printf '  <route listen="api" prefix="/%s" service="%s" rewrite="/"/>\n' "$1" "$1"
}

test_expect_success 'start the scripted peers and the gateway' '
	for m in garbage badhead close noend split; do
		spawn "bad_$m" python3 "$ROOT/t/helper/fcgi-bad.py" "$T/run/$m.sock" $m
	done &&
	wait_for test -S "$T/run/garbage.sock" &&
	wait_for test -S "$T/run/badhead.sock" &&
	wait_for test -S "$T/run/close.sock" &&
	wait_for test -S "$T/run/noend.sock" &&
	wait_for test -S "$T/run/split.sock" &&
	ROUTES="$(for m in garbage badhead close noend split; do route $m; done)" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="$(for m in garbage badhead close noend split; do svc $m; done)" \
	gateway_up
'
A=http://127.0.0.1:$API_PORT

test_expect_success 'bytes that are not FastCGI records: 502 envelope' '
	expect_eq "$(http GET "$A/garbage/x")" 502 &&
	expect_eq "$(json "j[\"httpStatus\"]")" BAD_GATEWAY
'

test_expect_success 'malformed CGI response head: 502' '
	expect_eq "$(http GET "$A/badhead/x")" 502
'

# retries NAME: elp_retries_total of service NAME (0 when not listed).
retries() {
	n=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
	    sed -n "s/^elp_retries_total{service=\"$1\",reason=\"[a-z]*\"} //p" |
	    awk "{ s += \$1 } END { print s + 0 }")
	echo "${n:-0}"
}

test_expect_success 'backend closes without answering: 502 after the 2 retries of a GET, POST not retried' '
	r0=$(retries close) &&
	expect_eq "$(http GET "$A/close/x")" 502 &&
	expect_eq "$(retries close)" $((r0 + 2)) &&
	expect_eq "$(http POST "$A/close/x" -d "a=1")" 502 &&
	expect_eq "$(retries close)" $((r0 + 2))
'

test_expect_success 'response without END_REQUEST: the client does not hang' '
	code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "$A/noend/x") &&
	[ "$code" = 200 -o "$code" = 502 ]
'

test_expect_success 'a response written one byte at a time is reassembled' '
	expect_eq "$(http GET "$A/split/x")" 200 &&
	expect_eq "$(cat "$T/body")" "{\"ok\":true}"
'

test_expect_success 'the gateway logged the protocol errors and kept all workers' '
	loggrep gateway.log "garbage@unix:.*" &&
	! grep -q "died" "$T/log/gateway.log"
'

test_done
