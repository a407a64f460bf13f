#!/bin/sh
# Instances reached over TCP, IPv4 and IPv6, balanced with the unix one;
# and a gateway listener on IPv6.
. "$(dirname "$0")/lib.sh"

P4=$(free_port)
P6=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
print(s.getsockname()[1])
s.close()')

test_expect_success 'echo apps on 127.0.0.1, [::1] and a unix socket' '
	spawn echo4 "$HELPERS/fcgi-echo" -l "127.0.0.1:$P4" -w 1 &&
	spawn echo6 "$HELPERS/fcgi-echo" -l "[::1]:$P6" -w 1 &&
	echo_up echou 1 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\">
    <instance address=\"127.0.0.1:$P4\" maxconn=\"1\"/>
    <instance address=\"[::1]:$P6\" maxconn=\"1\"/>
    <instance address=\"unix:$T/run/echou.sock\" maxconn=\"1\"/>
  </service>" \
	gateway_up
'

test_expect_success 'requests are spread over the three instances' '
	i=0; while [ $i -lt 30 ]; do
		[ "$(http GET "http://127.0.0.1:$API_PORT/e/small")" = 200 ] || break
		i=$((i + 1)); done &&
	expect_eq $i 30 &&
	curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$T/m" &&
	for a in "127.0.0.1:$P4" "\\[::1\\]:$P6" "unix:"; do
		grep -q "elp_instance_requests_total{service=\"echo\",instance=\"$a.*code=\"2xx\"} [1-9]" "$T/m" || echo "no traffic to $a"
	done >"$T/missing" &&
	expect_eq "$(cat "$T/missing")" ""
'

test_done
