#!/bin/sh
# elp-confd's registry: register (201), re-register (200), renew,
# drain, deregister (204); no token (401), wrong role (403), malformed
# body, bad address (400), a static instance (409) refused; leases.xml
# follows, validated by conf/schema/leases.xsd; an expired lease leaves
# it; a restart of elp-confd keeps every lease; when most leases lapse at
# once, self-preservation keeps them and says so.
. "$(dirname "$0")/lib.sh"

REG_CLIENT="    <client id='elp-registrar' grants='client_credentials'
            secret-file='$T/var/secrets/auth-elp-registrar.secret'
            roles='registry'/>"

test_expect_success 'database and elp-auth up' '
	db_up && mkdir -p "$T/var/secrets" &&
	(umask 077 && openssl rand -hex 24 >"$T/var/secrets/auth-elp-registrar.secret") &&
	AUTH_CLIENTS_EXTRA=$REG_CLIENT auth_up
'
ROUTES="  <route listen='admin' prefix='/realms/e-learning-platform' service='auth'/>"
confd_routes
INSTANCES="    <instance address='unix:$T/run/course.sock' maxconn='2'/>"
CONFD_LEASES="min-lease='1s' max-lease='1h' sweep='200ms' window='0s' self-preservation='0.5' self-preservation-min='3'"
confd_conf
gateway_conf
R=http://127.0.0.1:$ADMIN_PORT/registry
LEASES=$T/conf/leases.xml

test_expect_success 'gateway and elp-confd up' '
	spawn gateway "$BIN/elp-gateway" -c "$T/conf/gateway.xml" &&
	wait_for curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" &&
	confd_up &&
	TOK=$(svc_token elp-registrar) && test -n "$TOK" &&
	BAD=$(svc_token elp-messaging) && test -n "$BAD"
'

# reg BODY [SERVICE]: POST /registry/SERVICE with the registry token.
reg() {
	http POST "$R/${2:-course}" -H "Authorization: Bearer $TOK" \
	    -H "Content-Type: application/json" -d "$1"
}

# leases_valid: leases.xml passes its schema.
leases_valid() {
	xmllint --noout --schema "$ROOT/conf/schema/leases.xsd" "$LEASES" 2>&1
}

test_expect_success 'register: 201, a lease id, leases.xml written and valid' '
	st=$(reg "{\"address\":\"127.0.0.1:9001\",\"maxconn\":4,\"weight\":2,\"lease\":30}") &&
	expect_eq "$st" 201 &&
	ID=$(json "j[\"responseBody\"][\"leaseId\"]") &&
	echo "$ID" | grep -Eq "^[0-9a-f]{32}$" &&
	expect_eq "$(json "j[\"responseBody\"][\"lease\"]")" 30 &&
	json "j[\"responseBody\"][\"expires\"]" | grep -Eq "^20[0-9-]+T[0-9:]+Z$" &&
	grep -q "address=\"127.0.0.1:9001\" maxconn=\"4\" weight=\"2\" lease-id=\"$ID\"" "$LEASES" &&
	leases_valid
'

test_expect_success 'a unix address under the run directory registers' '
	st=$(reg "{\"address\":\"unix:$T/run/course2.sock\",\"maxconn\":2}") &&
	expect_eq "$st" 201 &&
	ID2=$(json "j[\"responseBody\"][\"leaseId\"]") &&
	grep -q "unix:$T/run/course2.sock" "$LEASES" && leases_valid
'

test_expect_success 're-register of the same address: 200, same lease' '
	st=$(reg "{\"address\":\"127.0.0.1:9001\",\"maxconn\":8}") &&
	expect_eq "$st" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"leaseId\"]")" "$ID" &&
	expect_eq "$(grep -c "127.0.0.1:9001" "$LEASES")" 1
'

test_expect_success 'renew: 200; unknown lease: 404' '
	v1=$(sed -n "s/.*<leases version=\"\([0-9]*\)\".*/\1/p" "$LEASES") &&
	st=$(http PUT "$R/course/$ID" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 200 &&
	v2=$(sed -n "s/.*<leases version=\"\([0-9]*\)\".*/\1/p" "$LEASES") &&
	test "$v2" -gt "$v1" &&
	st=$(http PUT "$R/course/0123456789abcdef0123456789abcdef" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 404
'

test_expect_success 'drain: state="drain" in leases.xml' '
	st=$(http POST "$R/course/$ID2/drain" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 200 &&
	grep "course2.sock" "$LEASES" | grep -q "state=\"drain\""
'

test_expect_success 'GET /registry lists leased and static instances' '
	st=$(http GET "$R") && expect_eq "$st" 200 &&
	expect_eq "$(json "len([i for i in j[\"responseBody\"][\"services\"][\"course\"] if not i[\"static\"]])")" 2 &&
	expect_eq "$(json "[i[\"address\"] for i in j[\"responseBody\"][\"services\"][\"course\"] if i[\"static\"]][0]")" "unix:$T/run/course.sock" &&
	expect_eq "$(json "j[\"responseBody\"][\"selfPreservation\"]")" false
'

test_expect_success 'no token: 401; a token without the registry role: 403' '
	st=$(http POST "$R/course" -H "Content-Type: application/json" -d "{\"address\":\"127.0.0.1:9002\"}") &&
	expect_eq "$st" 401 &&
	st=$(http POST "$R/course" -H "Authorization: Bearer $BAD" -H "Content-Type: application/json" -d "{\"address\":\"127.0.0.1:9002\"}") &&
	expect_eq "$st" 403 &&
	st=$(http DELETE "$R/course/$ID") && expect_eq "$st" 401 &&
	! grep -q "127.0.0.1:9002" "$LEASES"
'

test_expect_success 'malformed bodies and bad addresses: 400' '
	expect_eq "$(reg "not json")" 400 &&
	expect_eq "$(reg "{}")" 400 &&
	expect_eq "$(reg "{\"address\":\"127.0.0.1:9003\",\"maxconn\":0}")" 400 &&
	expect_eq "$(reg "{\"address\":\"127.0.0.1:9003\",\"lease\":\"x\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"example.com:80\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"127.0.0.1:0\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"127.0.0.1:70000\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"unix:/tmp/evil.sock\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"unix:$T/run/../evil.sock\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"unix:run/x.sock\"}")" 400 &&
	expect_eq "$(reg "{\"address\":\"127.0.0.1:9003\"}" "Bad_Name")" 400 &&
	st=$(reg "{\"address\":\"[::1]:9004\"}") && expect_eq "$st" 201 &&
	! grep -q "127.0.0.1:9003\|evil" "$LEASES"
'

test_expect_success 'a static instance of services.xml: 409' '
	st=$(reg "{\"address\":\"unix:$T/run/course.sock\"}") &&
	expect_eq "$st" 409
'

test_expect_success 'deregister: 204, gone from leases.xml; again: 404' '
	st=$(http DELETE "$R/course/$ID" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 204 && ! grep -q "$ID" "$LEASES" && leases_valid &&
	st=$(http DELETE "$R/course/$ID" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 404
'

test_expect_success 'a restart of elp-confd keeps every lease' '
	before=$(grep -c "<instance" "$LEASES") && test "$before" -ge 2 &&
	stop_pid "$pid_confd" && confd_up &&
	st=$(http GET "$R") && expect_eq "$st" 200 &&
	expect_eq "$(json "len([i for i in j[\"responseBody\"][\"services\"][\"course\"] if not i[\"static\"]])")" "$before" &&
	st=$(http PUT "$R/course/$ID2" -H "Authorization: Bearer $TOK") &&
	expect_eq "$st" 200
'

test_expect_success 'a lease not renewed expires and leaves leases.xml' '
	st=$(reg "{\"address\":\"127.0.0.1:9010\",\"lease\":1}" other) &&
	expect_eq "$st" 201 && grep -q "127.0.0.1:9010" "$LEASES" &&
	wait_for sh -c "! grep -q 127.0.0.1:9010 $LEASES" &&
	loggrep confd.log "lease [0-9a-f]+ of other at 127.0.0.1:9010 expired; removed" &&
	leases_valid
'

test_expect_success 'self-preservation: most leases lapsing at once are kept' '
	for id in $(sed -n "s/.*lease-id=\"\([0-9a-f]*\)\".*/\1/p" "$LEASES"); do
		http DELETE "$R/course/$id" -H "Authorization: Bearer $TOK" >/dev/null
	done &&
	for p in 9101 9102 9103 9104; do
		st=$(reg "{\"address\":\"127.0.0.1:$p\",\"lease\":2}" fleet) &&
		expect_eq "$st" 201 || return 1
	done &&
	st=$(reg "{\"address\":\"127.0.0.1:9105\",\"lease\":3600}" fleet) &&
	expect_eq "$st" 201 &&
	wait_for loggrep confd.log "self-preservation on: 4 of 5 leases lapsed at once" &&
	expect_eq "$(grep -c "127.0.0.1:910" "$LEASES")" 5 &&
	http GET "$R" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"selfPreservation\"]")" true &&
	http GET "http://127.0.0.1:$ADMIN_PORT/config/status" >/dev/null &&
	expect_eq "$(json "j[\"responseBody\"][\"registry\"][\"selfPreservation\"]")" true
'

test_expect_success 'renewals resume (re-register, 200): self-preservation ends' '
	for p in 9101 9102; do
		st=$(reg "{\"address\":\"127.0.0.1:$p\",\"lease\":3600}" fleet) &&
		expect_eq "$st" 200 || return 1
	done &&
	wait_for loggrep confd.log "self-preservation off"
'

test_expect_success 'after it, a lapsed lease has one lease period to come back, then goes' '
	st=$(reg "{\"address\":\"127.0.0.1:9103\",\"lease\":3600}" fleet) &&
	expect_eq "$st" 200 &&
	wait_for loggrep confd.log "fleet at 127.0.0.1:9104 expired; removed" &&
	! grep -q "127.0.0.1:9104" "$LEASES" &&
	expect_eq "$(grep -c "127.0.0.1:910[1235]" "$LEASES")" 4
'

test_done
