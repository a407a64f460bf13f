#!/bin/sh
# An instance's maxconn holds across all gateway workers: with two workers
# and many concurrent clients, the app never sees more connections than
# maxconn (its worker count), and every request is served in turn rather
# than starved behind connections another worker keeps idle.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start a 2-worker echo app (maxconn 2) and a 2-worker gateway' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><health enabled=\"no\"/><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_WORKERS=2 gateway_up
'

test_expect_success '60 concurrent clients: all served, never more than maxconn app connections' '
	python3 "$ROOT/t/helper/load.py" "http://127.0.0.1:$API_PORT/e/sleep?ms=5" 4 60 >"$T/load" &
	lp=$! &&
	max=0 && i=0 &&
	while [ $i -lt 30 ]; do
		n=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
		    sed -n "s/^elp_instance_connections{service=\"echo\".*} //p") &&
		[ "${n:-0}" -gt "$max" ] && max=$n
		sleep 0.1; i=$((i + 1))
	done &&
	wait $lp && cat "$T/load" && echo "max backend connections: $max" &&
	grep -q "^errors=0$" "$T/load" &&
	! grep -v "^200=\|^total=\|^errors=" "$T/load" | grep -q . &&
	[ "$(sed -n "s/^200=//p" "$T/load")" -gt 200 ] &&
	[ "$max" -le 2 ] && [ "$max" -ge 1 ]
'

test_done
