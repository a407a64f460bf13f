#!/bin/sh
# SMTP security of the e-mail outbox against a real server (aiosmtpd with
# STARTTLS required and AUTH): with tls="required", the server's
# certificate checked against ca-file and the right password, mail goes
# out over TLS after AUTH; a wrong password is retried, not failed, and
# never logged; a server whose certificate the CA does not vouch for, or
# one without STARTTLS, gets nothing in clear text.
. "$(dirname "$0")/lib.sh"

EV=http://127.0.0.1:$ADMIN_PORT/internal/messaging/events
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
PW='Secr3t#pass'
SMTP_PW='mail-Pa55word'
MSG_OUTBOX="poll='100ms' lease='6s' max-attempts='50' backoff-base='100ms' backoff-max='500ms'"

# cert NAME: a self-signed certificate for 127.0.0.1 in NAME.pem/NAME.key.
cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$1" \
	    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	    -keyout "$T/$1.key" -out "$T/$1.pem" 2>/dev/null
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

# state EVENTID: "state attempts" of the outbox row of that event.
state() {
	msg_sql "SELECT o.state, o.attempts FROM outbox o JOIN notification n ON n.id = o.notification_id WHERE n.event_id = '$1'" |
	    tr '\t' ' '
}

tried() {	# tried EVENTID N: attempted at least N times, still pending
	set -- "$(state "$1")" "$2"
	[ "${1%% *}" = pending ] && [ "${1#* }" -ge "$2" ]
}

sent() {	# sent EVENTID
	[ "$(state "$1" | cut -d" " -f1)" = sent ]
}

test_expect_success 'certificates, a password file, and the stack' '
	cert server && cert other &&
	(umask 077 && printf "%s\n" "$SMTP_PW" >"$T/smtp.pw" &&
	    printf "wrong-password\n" >"$T/smtp-wrong.pw") &&
	db_up && auth_up &&
	MSG_SMTP_SECURITY="tls=\"required\" ca-file=\"$T/server.pem\" username=\"elp\" password-file=\"$T/smtp.pw\"" \
	    messaging_up &&
	GW_AUTH="<auth issuer=\"$ISS\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up &&
	printf "%s\n" "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email ann@example.com --first Ann --role USER >"$T/ann.id"
'
TS=$(svc_token elp-course)
ANN=$(cat "$T/ann.id" 2>/dev/null)

test_expect_success 'STARTTLS required and AUTH: delivered over TLS, once' '
	smtp_up --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
	    --auth "elp:$SMTP_PW" &&
	E=$(welcome "$ANN") &&
	wait_long 20 sent "$E" &&
	grep -q "^AUTH ok elp" "$T/log/smtp.log" &&
	expect_eq "$(grep -c "^DATA .* 250 tls=yes$" "$T/log/smtp.log")" 1 &&
	expect_eq "$(mail_ids | wc -l)" 1
'

test_expect_success 'a wrong password: retried (temporary), never logged, then delivered once fixed' '
	cp "$T/smtp-wrong.pw" "$T/smtp.pw" &&
	E=$(welcome "$ANN") &&
	wait_long 20 tried "$E" 2 &&
	grep -q "^AUTH fail elp" "$T/log/smtp.log" &&
	! grep -q "wrong-password\|$SMTP_PW" "$T"/log/messaging*.log &&
	printf "%s\n" "$SMTP_PW" >"$T/smtp.pw" &&
	wait_long 20 sent "$E" &&
	expect_eq "$(mail_ids | wc -l)" 2
'

# since N: the SMTP log after its first N lines.
since() {
	tail -n "+$(($1 + 1))" "$T/log/smtp.log"
}

test_expect_success 'a certificate the CA file does not vouch for: nothing sent' '
	smtp_down && n0=$(wc -l <"$T/log/smtp.log") &&
	smtp_up --tls-cert "$T/other.pem" --tls-key "$T/other.key" \
	    --auth "elp:$SMTP_PW" &&
	E=$(welcome "$ANN") &&
	wait_long 20 tried "$E" 2 &&
	expect_eq "$(since $n0 | grep -c "^AUTH\|^DATA")" 0 &&
	expect_eq "$(mail_ids | wc -l)" 2
'

test_expect_success 'a server without STARTTLS: nothing in clear text' '
	smtp_down && n0=$(wc -l <"$T/log/smtp.log") &&
	smtp_up &&
	wait_long 20 tried "$E" 4 &&
	expect_eq "$(since $n0 | grep -c "^AUTH\|^DATA")" 0 &&
	expect_eq "$(mail_ids | wc -l)" 2
'

test_done
