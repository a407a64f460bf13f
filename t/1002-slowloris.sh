#!/bin/sh
# Slow clients (slowloris: heads or bodies trickling in) are cut off by the
# header and body-idle timeouts, while normal requests on the same worker
# are served without delay.
. "$(dirname "$0")/lib.sh"

test_expect_success 'start fcgi-echo and a one-worker gateway with short timeouts' '
	echo_up echo 2 &&
	ROUTES="  <route listen=\"api\" prefix=\"/e\" service=\"echo\" rewrite=\"/\"/>" \
	INSTANCES="    <instance address=\"unix:$T/run/none.sock\" maxconn=\"1\"/>" \
	SERVICES_EXTRA="  <service name=\"echo\"><instance address=\"unix:$T/run/echo.sock\" maxconn=\"2\"/></service>" \
	GW_TIMEOUTS="header=\"2s\" body-idle=\"2s\" keepalive=\"5s\" queue=\"3s\"" GW_WORKERS=1 \
	gateway_up
'
E=http://127.0.0.1:$API_PORT/e

test_expect_success '300 slow heads are closed by the header timeout; others are served meanwhile' '
	python3 "$ROOT/t/helper/slowloris.py" $API_PORT 300 8 >"$T/slow" &
	sp=$! &&
	sleep 0.5 &&
	i=0 && while [ $i -lt 20 ]; do
		t=$(curl -s -o /dev/null -w "%{http_code} %{time_total}" "$E/small") &&
		case $t in "200 0."*) ;; *) echo "slow or failed: $t"; slow=1 ;; esac
		i=$((i + 1))
	done &&
	[ -z "${slow:-}" ] &&
	wait $sp && cat "$T/slow" &&
	grep -q "^closed=300$" "$T/slow" &&
	awk -F= "/max_life/ { exit !(\$2 < 4.5) }" "$T/slow"
'

test_expect_success 'stalled request bodies are closed by the body-idle (or queue) timeout' '
	python3 "$ROOT/t/helper/slowloris.py" $API_PORT 50 8 --body /e/count >"$T/slowb" &&
	cat "$T/slowb" &&
	grep -q "^closed=50$" "$T/slowb" &&
	awk -F= "/max_life/ { exit !(\$2 > 1.5 && \$2 < 7) }" "$T/slowb" &&
	sleep 0.3 && loggrep access.log "\"POST /e/count HTTP/1.1\" 408" &&
	expect_eq "$(http GET "$E/small")" 200
'

test_done
