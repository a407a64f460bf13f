#!/bin/sh
# The e-mail outbox of elp-messaging against a real SMTP server
# (t/helper/smtp-sink.py on aiosmtpd): mails of events that arrive while
# the server is down all go out exactly once when it is back; a 4xx is
# retried with backoff and delivered once; a 5xx is failed for good and
# never retried; a message that keeps getting 4xx fails after
# max-attempts; killing the delivery process (kill -9) in the middle of a
# DATA loses nothing and duplicates nothing; killing the whole service
# after the server stored a message but before its answer arrived sends
# that one message again, with the same Message-ID (the one duplicate
# SMTP leaves possible; fcgi-apps/messaging/README.md).
. "$(dirname "$0")/lib.sh"

ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
EV=http://127.0.0.1:$ADMIN_PORT/internal/messaging/events
PW='Secr3t#pass'
# Every pause is short; the lease outlives the SMTP timeout (5s).
MSG_OUTBOX="poll='100ms' lease='6s' max-attempts='20' backoff-base='100ms' backoff-max='1s'"
SINK="--tempfail-rcpt temp --tempfail-count 2 --always-tempfail-rcpt never
      --reject-rcpt reject --delay-rcpt slow --delay 4 --hold-rcpt hold --hold 4"

create_user() {	# create_user LOCALPART: prints the id
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1@example.com" --first "$1" --role USER
}

# welcome USERID: posts a user.registered event; prints its eventId.
welcome() {
	e=$(cat /proc/sys/kernel/random/uuid)
	s=$(http POST "$EV" -H "Authorization: Bearer $TS" \
	    -H "Content-Type: application/json" \
	    --data-binary "{\"eventId\":\"$e\",\"type\":\"user.registered\",\"userId\":\"$1\"}")
	[ "$s" = 201 ] || { echo "event: $s" >&2; return 1; }
	echo "$e"
}

# row EVENTID COLUMNS: columns of the outbox row of that event.
row() {
	msg_sql "SELECT $2 FROM outbox o JOIN notification n ON n.id = o.notification_id WHERE n.event_id = '$1'" |
	    tr '\t' ' '
}

copies() {	# copies MESSAGEID: stored copies of that message
	mail_ids | grep -c -F -x "$1"
}

bg_pid() {	# bg_pid: the delivery process started last
	sed -n 's/.*outbox: delivery process \([0-9]*\) started.*/\1/p' \
	    "$T"/log/messaging*.log | tail -n 1
}

bg_restarted() {	# bg_restarted OLDPID: another delivery process runs
	p=$(bg_pid)
	[ -n "$p" ] && [ "$p" != "$1" ]
}

all_attempted() {	# all_attempted N: every pending row tried N times
	[ "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND attempts < $1")" = 0 ]
}

test_expect_success 'start MariaDB, elp-auth, elp-messaging and the gateway; SMTP down' '
	db_up && auth_up && messaging_up &&
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	( for u in u1 u2 u3 u4 u5 u6 temp reject never slow hold; do
		create_user $u >"$T/$u.id" || exit 1
	done )
'
TS=$(svc_token elp-course)

test_expect_success 'SMTP down: six events are stored and their mails retried' '
	: >"$T/a.events" &&
	( for u in u1 u2 u3 u4 u5 u6; do
		welcome "$(cat "$T/$u.id")" >>"$T/a.events" || exit 1
	done ) &&
	expect_eq "$(wc -l <"$T/a.events")" 6 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox")" 6 &&
	wait_for all_attempted 2 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = \"pending\"")" 6 &&
	loggrep messaging.log "smtp server not accepting mail" &&
	test ! -d "$T/mail"
'

test_expect_success 'SMTP back: every mail delivered exactly once' '
	smtp_up $SINK &&
	wait_long 30 outbox_settled &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = \"sent\" AND attempts >= 2")" 6 &&
	expect_eq "$(mail_ids | wc -l)" 6 &&
	expect_eq "$(mail_ids | uniq -d)" "" &&
	expect_eq "$(mail_ids)" "$(msg_sql "SELECT message_id FROM outbox" | sort)" &&
	loggrep messaging.log "smtp server accepting mail again"
'

test_expect_success '4xx twice, then accepted: delivered once after 3 attempts' '
	E=$(welcome "$(cat "$T/temp.id")") &&
	wait_long 20 outbox_settled &&
	expect_eq "$(row "$E" "state, attempts")" "sent 3" &&
	ID=$(row "$E" message_id) &&
	expect_eq "$(grep -c "^DATA $ID .* 451$" "$T/log/smtp.log")" 2 &&
	expect_eq "$(grep -c "^DATA $ID .* 250 tls=no$" "$T/log/smtp.log")" 1 &&
	expect_eq "$(copies "$ID")" 1
'

test_expect_success '5xx: failed for good at once, never retried, nothing stored' '
	E=$(welcome "$(cat "$T/reject.id")") && echo "$E" >"$T/reject.event" &&
	wait_long 20 outbox_settled &&
	expect_eq "$(row "$E" "state, attempts")" "failed 1" &&
	row "$E" last_error | grep -q "smtp 550" &&
	sleep 1.5 &&
	expect_eq "$(row "$E" "state, attempts")" "failed 1" &&
	expect_eq "$(grep -c "^RCPT reject@example.com 550$" "$T/log/smtp.log")" 1 &&
	loggrep messaging.log "failed for good after 1 attempt"
'

test_expect_success 'a mail that keeps getting 4xx fails after max-attempts' '
	E=$(welcome "$(cat "$T/never.id")") && echo "$E" >"$T/never.event" &&
	wait_long 40 outbox_settled &&
	expect_eq "$(row "$E" "state, attempts")" "failed 20" &&
	ID=$(row "$E" message_id) &&
	expect_eq "$(grep -c "^DATA $ID .* 451$" "$T/log/smtp.log")" 20 &&
	expect_eq "$(copies "$ID")" 0
'

test_expect_success 'kill -9 of the delivery process during DATA: resent once after the lease' '
	E=$(welcome "$(cat "$T/slow.id")") &&
	ID=$(row "$E" message_id) &&
	wait_for grep -q -F "DELAY $ID" "$T/log/smtp.log" &&
	OLD=$(bg_pid) && test -n "$OLD" &&
	kill -9 "$OLD" &&
	wait_for bg_restarted "$OLD" &&
	loggrep messaging.log "background process $OLD exited with signal 9, restarting" &&
	expect_eq "$(row "$E" "state, attempts")" "pending 0" &&
	wait_long 30 outbox_settled &&
	expect_eq "$(row "$E" "state, attempts")" "sent 1" &&
	expect_eq "$(grep -c -F "DELAY $ID" "$T/log/smtp.log")" 2 &&
	expect_eq "$(copies "$ID")" 1
'

test_expect_success 'kill -9 of the whole service after the server stored a mail: that one mail twice' '
	E=$(welcome "$(cat "$T/hold.id")") &&
	ID=$(row "$E" message_id) && echo "$ID" >"$T/hold.msgid" &&
	wait_for grep -q -F "HOLD $ID" "$T/log/smtp.log" &&
	expect_eq "$(copies "$ID")" 1 &&
	kids=$(ps -o pid= --ppid "$pid_messaging") &&
	kill -9 "$pid_messaging" $kids &&
	messaging_conf messaging "$T/run/messaging.sock" &&
	spawn messaging2 "$BIN/elp-messaging" -c "$T/conf/services/messaging.xml" &&
	wait_for loggrep messaging2.log "outbox: delivery process [0-9]+ started" &&
	wait_long 30 outbox_settled &&
	expect_eq "$(row "$E" "state, attempts")" "sent 1" &&
	expect_eq "$(copies "$ID")" 2 &&
	expect_eq "$(grep -c -F "HOLD $ID" "$T/log/smtp.log")" 2
'

test_expect_success 'in all: every sent row once, except the one mail of the kill' '
	expect_eq "$(mail_ids | uniq -d)" "$(cat "$T/hold.msgid")" &&
	expect_eq "$(mail_ids | sort -u)" "$(msg_sql "SELECT message_id FROM outbox WHERE state = \"sent\"" | sort)" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = \"sent\"")" 9 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = \"failed\"")" 2
'

no_sent() {	# no_sent: the outbox holds no sent row any more
	[ "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")" = 0 ]
}

test_expect_success 'reload with keep=1s: sent rows go; failed rows and notifications stay' '
	n=$(msg_sql "SELECT COUNT(*) FROM notification") &&
	MSG_OUTBOX="$MSG_OUTBOX keep='"'"'1s'"'"'" \
	    messaging_conf messaging "$T/run/messaging.sock" &&
	kill -HUP "$pid_messaging2" &&
	wait_long 20 no_sent &&
	loggrep messaging2.log "outbox: [0-9]+ sent message\(s\) older than the keep time removed" &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM outbox WHERE state = \"failed\"")" 2 &&
	expect_eq "$(msg_sql "SELECT COUNT(*) FROM notification")" "$n"
'

test_done
