#!/bin/sh
# elp-auth as an OpenID Connect provider through the gateway's idp
# listener: discovery, JWKS, the browser code flow with PKCE and the login
# form, SSO, code and refresh-token replay, password and client-credentials
# grants, userinfo, logout, brute-force lockout and key rotation. Real
# MariaDB, real elp-auth pool, real elp-gateway; signatures are verified
# in Python against the JWKS.
. "$(dirname "$0")/lib.sh"

AUTH_BF_FAILURES=3
AUTH_BF_WAIT=4s
ISS=http://127.0.0.1:$IDP_PORT/realms/e-learning-platform
OIDC=$ISS/protocol/openid-connect
PW='Secr3t#pass'

# oidc CMD ARGS...: the scripted relying party; JSON result in $T/body.
oidc() {
	python3 "$ROOT/t/helper/oidc.py" "$ISS" "$@" >"$T/body"
}

# claims TOKEN: verified header and payload of TOKEN into $T/body.
claims() {
	oidc verify "$1"
}

# jexpect EXPR EXPECTED...: each Python expression on the JSON in $T/body
# (bound to j) must print EXPECTED; one process for all pairs.
jexpect() {
	python3 - "$T/body" "$@" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = sys.argv[2:]
bad = 0
for e, want in zip(a[::2], a[1::2]):
    v = eval(e)
    got = v if isinstance(v, str) else json.dumps(v)
    if got != want:
        print("%s: expected [%s], got [%s]" % (e, want, got), file=sys.stderr)
        bad = 1
sys.exit(bad)
PY
}

create_user() {	# create_user EMAIL ROLE
	printf '%s\n' "$PW" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email "$1" --first Ada --last Lovelace --role "$2"
}

test_expect_success 'start MariaDB, elp-auth and elp-gateway' '
	db_up &&
	auth_up &&
	gateway_up &&
	create_user Ada@Example.com USER >"$T/ada.id" &&
	create_user root@example.com ADMIN >"$T/root.id"
'

test_expect_success 'create-user: duplicate email exits 3, bad password 2' '
	{ create_user ada@example.com USER; test $? -eq 3; } &&
	{ printf "short\n" | "$BIN/elp-auth" -c "$T/conf/services/auth.xml" \
	    create-user --email x@example.com; test $? -eq 2; }
'

test_expect_success 'discovery: issuer, endpoints under it, metadata' '
	expect_eq "$(http GET "$ISS/.well-known/openid-configuration")" 200 &&
	jexpect \
	    "j[\"issuer\"]" "$ISS" \
	    "all(j[k].startswith(j[\"issuer\"]) for k in (\"authorization_endpoint\", \"token_endpoint\", \"userinfo_endpoint\", \"end_session_endpoint\", \"revocation_endpoint\", \"introspection_endpoint\", \"jwks_uri\"))" true \
	    "j[\"token_endpoint\"]" "$OIDC/token" \
	    "j[\"response_types_supported\"]" "[\"code\"]" \
	    "sorted(j[\"grant_types_supported\"])" \
	    "[\"authorization_code\", \"client_credentials\", \"password\", \"refresh_token\"]" &&
	jexpect \
	    "j[\"code_challenge_methods_supported\"]" "[\"S256\"]" \
	    "j[\"subject_types_supported\"]" "[\"public\"]" \
	    "j[\"id_token_signing_alg_values_supported\"]" "[\"RS256\"]" \
	    "sorted(j[\"token_endpoint_auth_methods_supported\"])" \
	    "[\"client_secret_basic\", \"client_secret_post\", \"none\"]" &&
	expect_eq "$(json "\"offline_access\" in j[\"scopes_supported\"] and \"query\" in j[\"response_modes_supported\"] and \"nonce\" in j[\"claims_supported\"]")" true
'

test_expect_success 'JWKS: one RS256 signing key' '
	expect_eq "$(http GET "$OIDC/certs")" 200 &&
	expect_eq "$(json "[(k[\"kty\"], k[\"use\"], k[\"alg\"], k[\"e\"]) for k in j[\"keys\"]]")" \
	    "[[\"RSA\", \"sig\", \"RS256\", \"AQAB\"]]" &&
	json "j[\"keys\"][0][\"kid\"]" >"$T/kid1" &&
	test -n "$(cat "$T/kid1")" &&
	expect_eq "$(stat -c %a "$T/var/auth/keys")" 700 &&
	expect_eq "$(stat -c %a "$T"/var/auth/keys/key-*.pem)" 600
'

test_expect_success 'code flow: login page is accessible and carries the security headers' '
	oidc authorize "$T/jar0" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "sorted(j[\"fields\"])" "[\"attempt\", \"csrf\", \"password\", \"username\"]" \
	    "all(s in j[\"body\"] for s in (\"<html lang=\\\"en\\\"\", \"<label for=\\\"username\\\"\", \"<label for=\\\"password\\\"\", \"autocomplete=\\\"current-password\\\"\", \"autocomplete=\\\"username\\\"\", \"<title>Login to ELP</title>\"))" true \
	    "j[\"headers\"][\"x-frame-options\"]" SAMEORIGIN \
	    "j[\"headers\"][\"x-content-type-options\"]" nosniff \
	    "\"frame-ancestors\" in j[\"headers\"][\"content-security-policy\"]" true \
	    "\"<link\" in j[\"body\"] or \"<script\" in j[\"body\"]" false \
	    "\"HttpOnly\" in j[\"headers\"][\"set-cookie\"]" true
'

test_expect_success 'code flow: bad password re-shows the form with a generic error' '
	oidc login "$T/jar0" ada@example.com "Wrong#pass1" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "\"Invalid username or password.\" in j[\"body\"]" true \
	    "j[\"location\"]" null
'

test_expect_success 'code flow with PKCE: code, state, tokens, verified claims' '
	oidc flow "$T/jar" Ada@example.com "$PW" &&
	cp "$T/body" "$T/flow1" &&
	jexpect \
	    "j[\"login_status\"]" 302 \
	    "j[\"redirect\"][\"state\"] == j[\"state\"]" true \
	    "len(j[\"redirect\"][\"session_state\"])" 36 \
	    "j[\"token\"][\"status\"]" 200 \
	    "j[\"token\"][\"headers\"][\"cache-control\"]" no-store \
	    "j[\"token\"][\"headers\"][\"pragma\"]" no-cache \
	    "j[\"token\"][\"body\"][\"token_type\"]" Bearer \
	    "j[\"token\"][\"body\"][\"expires_in\"]" 300 \
	    "sorted(j[\"token\"][\"body\"][\"scope\"].split())" \
	    "[\"email\", \"offline_access\", \"openid\", \"profile\"]" &&
	json "j[\"nonce\"]" >"$T/nonce" &&
	json "j[\"token\"][\"body\"][\"access_token\"]" >"$T/at1" &&
	json "j[\"token\"][\"body\"][\"id_token\"]" >"$T/id1" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rt1" &&
	json "j[\"verifier\"]" >"$T/verifier1" &&
	json "j[\"redirect\"][\"code\"]" >"$T/code1"
'

test_expect_success 'ID token: RS256 with kid, aud spa-client, nonce, issuer, profile' '
	claims "$(cat "$T/id1")" &&
	jexpect \
	    "j[\"header\"][\"kid\"]" "$(cat "$T/kid1")" \
	    "j[\"payload\"][\"aud\"]" spa-client \
	    "j[\"payload\"][\"nonce\"]" "$(cat "$T/nonce")" \
	    "j[\"payload\"][\"iss\"]" "$ISS" \
	    "j[\"payload\"][\"typ\"]" ID \
	    "j[\"payload\"][\"sub\"]" "$(cat "$T/ada.id")" \
	    "j[\"payload\"][\"preferred_username\"]" ada@example.com \
	    "j[\"payload\"][\"given_name\"] + \" \" + j[\"payload\"][\"family_name\"]" "Ada Lovelace"
'

test_expect_success 'access token: roles array, aud elp-api, atob-safe payload' '
	claims "$(cat "$T/at1")" &&
	jexpect \
	    "j[\"payload\"][\"aud\"]" elp-api \
	    "j[\"payload\"][\"azp\"]" spa-client \
	    "j[\"payload\"][\"typ\"]" Bearer \
	    "sorted(j[\"payload\"][\"realm_access\"][\"roles\"])" "[\"USER\", \"offline_access\"]" \
	    "all(k in j[\"payload\"] for k in (\"iss\", \"sub\", \"exp\", \"iat\", \"auth_time\", \"jti\", \"sid\", \"scope\", \"email\", \"email_verified\", \"name\"))" true \
	    "j[\"payload\"][\"exp\"] - j[\"payload\"][\"iat\"]" 300 &&
	cut -d . -f 2 "$T/at1" >"$T/mid" &&
	! grep -q "[-_]" "$T/mid"
'

test_expect_success 'code reuse fails and revokes the tokens issued from it' '
	oidc token grant_type=authorization_code code="$(cat "$T/code1")" \
	    redirect_uri=http://localhost:4200/general/callback \
	    code_verifier="$(cat "$T/verifier1")" client_id=spa-client &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" invalid_grant &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rt1")" client_id=spa-client &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" invalid_grant &&
	loggrep auth.log "authorization code replayed"
'

test_expect_success 'second authorization with the SSO cookie skips the form' '
	oidc authorize "$T/jar" &&
	jexpect \
	    "j[\"status\"]" 302 \
	    "j[\"location\"].startswith(\"http://localhost:4200/general/callback?code=\")" true
'

test_expect_success 'wrong PKCE verifier fails' '
	oidc flow "$T/jar" ada@example.com "$PW" &&
	json "j[\"redirect\"][\"code\"]" >"$T/code2" &&
	oidc token grant_type=authorization_code code="$(cat "$T/code2")" \
	    redirect_uri=http://localhost:4200/general/callback \
	    code_verifier=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa client_id=spa-client &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" invalid_grant
'

test_expect_success 'redirect_uri of the exchange must match the authorization request' '
	oidc login "$T/jar" ada@example.com "$PW" &&
	json "j[\"redirect\"][\"code\"]" >"$T/code3" &&
	json "j[\"verifier\"]" >"$T/verifier3" &&
	oidc token grant_type=authorization_code code="$(cat "$T/code3")" \
	    redirect_uri=http://localhost:4200/other \
	    code_verifier="$(cat "$T/verifier3")" client_id=spa-client &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" invalid_grant
'

test_expect_success 'unregistered redirect_uri or client: error page, no redirect' '
	oidc authorize "$T/jar" redirect_uri=http://localhost:4200/general/callback/../evil &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"location\"]" null &&
	oidc authorize "$T/jar" redirect_uri=http://localhost:4200/general/callbackx &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"location\"]" null &&
	oidc authorize "$T/jar" client_id=nobody &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"location\"]" null
'

test_expect_success 'missing PKCE: error=invalid_request redirect with state' '
	oidc authorize "$T/jar0" code_challenge=- code_challenge_method=- state=s123 &&
	jexpect \
	    "j[\"status\"]" 302 \
	    "\"error=invalid_request\" in j[\"location\"] and \"state=s123\" in j[\"location\"]" true
'

test_expect_success 'refresh rotation: new token works once; reuse revokes the family' '
	oidc flow "$T/jar" ada@example.com "$PW" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rtA" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtA")" \
	    client_id=spa-client "scope=openid profile email offline_access" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "\"id_token\" in j[\"body\"] and \"access_token\" in j[\"body\"]" true &&
	json "j[\"body\"][\"refresh_token\"]" >"$T/rtB" &&
	test "$(cat "$T/rtA")" != "$(cat "$T/rtB")" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtA")" client_id=spa-client &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" invalid_grant &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtB")" client_id=spa-client &&
	expect_eq "$(json "j[\"status\"]")" 400 &&
	loggrep auth.log "refresh token reused"
'

test_expect_success 'password grant for admin-cli; refused for spa-client' '
	oidc token grant_type=password client_id=admin-cli username=root@example.com "password=$PW" scope=openid &&
	expect_eq "$(json "j[\"status\"]")" 200 &&
	json "j[\"body\"][\"access_token\"]" >"$T/at_root" &&
	expect_eq "$(json "\"refresh_token\" in j[\"body\"] and \"id_token\" in j[\"body\"]")" true &&
	claims "$(cat "$T/at_root")" &&
	expect_eq "$(json "\"ADMIN\" in j[\"payload\"][\"realm_access\"][\"roles\"]")" true &&
	oidc token grant_type=password client_id=spa-client username=root@example.com "password=$PW" &&
	jexpect \
	    "j[\"status\"]" 400 \
	    "j[\"body\"][\"error\"]" unauthorized_client &&
	oidc token grant_type=password client_id=admin-cli username=root@example.com password=nope &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	oidc token grant_type=magic client_id=admin-cli &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" unsupported_grant_type
'

test_expect_success 'client_credentials: basic and post; wrong secret is 401' '
	SECRET=$(head -n 1 "$T/var/secrets/auth-elp-user.secret") &&
	oidc token grant_type=client_credentials "basic=elp-user:$SECRET" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "\"refresh_token\" in j[\"body\"]" false &&
	json "j[\"body\"][\"access_token\"]" >"$T/at_svc" &&
	oidc token grant_type=client_credentials client_id=elp-user "client_secret=$SECRET" &&
	expect_eq "$(json "j[\"status\"]")" 200 &&
	oidc token grant_type=client_credentials "basic=elp-user:wrong-secret-value" &&
	jexpect \
	    "j[\"status\"]" 401 \
	    "j[\"body\"][\"error\"]" invalid_client \
	    "j[\"headers\"][\"www-authenticate\"].startswith(\"Basic\")" true &&
	oidc token grant_type=client_credentials client_id=elp-user client_secret=wrong &&
	expect_eq "$(json "j[\"status\"]")" 401 &&
	claims "$(cat "$T/at_svc")" &&
	expect_eq "$(json "sorted(j[\"payload\"][\"realm_access\"][\"roles\"])")" "[\"delete-users\", \"manage-users\", \"messaging-service\", \"reset-passwords\", \"view-users\"]" &&
	! grep -q "$SECRET" "$T"/log/*.log
'

test_expect_success 'revocation ends a refresh-token family; introspection for service clients' '
	oidc token grant_type=password client_id=admin-cli username=root@example.com "password=$PW" &&
	json "j[\"body\"][\"refresh_token\"]" >"$T/rtR" &&
	expect_eq "$(http POST "$OIDC/revoke" -d client_id=admin-cli -d "token=$(cat "$T/rtR")")" 200 &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtR")" client_id=admin-cli &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	expect_eq "$(http POST "$OIDC/token/introspect" -u "elp-user:$SECRET" -d "token=$(cat "$T/at_root")")" 200 &&
	jexpect "j[\"active\"]" true "j[\"sub\"]" "$(cat "$T/root.id")" &&
	expect_eq "$(http POST "$OIDC/token/introspect" -u "elp-user:$SECRET" -d token=garbage)" 200 &&
	jexpect "j" "{\"active\": false}" &&
	expect_eq "$(http POST "$OIDC/token/introspect" -d client_id=admin-cli -d token=garbage)" 401
'

test_expect_success 'userinfo with the access token' '
	expect_eq "$(http GET "$OIDC/userinfo" -H "Authorization: Bearer $(cat "$T/at_root")")" 200 &&
	jexpect \
	    "j[\"preferred_username\"]" root@example.com \
	    "j[\"sub\"]" "$(cat "$T/root.id")" &&
	expect_eq "$(http GET "$OIDC/userinfo" -H "Authorization: Bearer x.y.z")" 401
'

test_expect_success 'logout: only the registered URI, kills SSO session and its refresh tokens' '
	oidc flow "$T/jarL" ada@example.com "$PW" &&
	json "j[\"token\"][\"body\"][\"id_token\"]" >"$T/idL" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rtL" &&
	oidc get "$T/jarL" "$OIDC/logout?id_token_hint=$(cat "$T/idL")&post_logout_redirect_uri=http%3A%2F%2Fevil.example&state=z" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "j[\"location\"]" null &&
	oidc flow "$T/jarM" ada@example.com "$PW" &&
	json "j[\"token\"][\"body\"][\"id_token\"]" >"$T/idM" &&
	json "j[\"token\"][\"body\"][\"refresh_token\"]" >"$T/rtM" &&
	oidc get "$T/jarM" "$OIDC/logout?id_token_hint=$(cat "$T/idM")&post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A4200&state=z9" &&
	jexpect \
	    "j[\"status\"]" 302 \
	    "j[\"location\"]" "http://localhost:4200?state=z9" &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtM")" client_id=spa-client &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	oidc token grant_type=refresh_token refresh_token="$(cat "$T/rtL")" client_id=spa-client &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	oidc authorize "$T/jarM" &&
	jexpect \
	    "j[\"status\"]" 200 \
	    "\"csrf\" in j[\"fields\"]" true
'

test_expect_success 'brute force: lockout after 3 failures, correct password refused, then accepted' '
	for i in 1 2 3; do
		oidc token grant_type=password client_id=admin-cli username=root@example.com "password=Bad#pass$i" || return 1
	done &&
	date +%s.%N >"$T/locked_at" &&
	oidc token grant_type=password client_id=admin-cli username=root@example.com "password=$PW" &&
	expect_eq "$(json "j[\"body\"][\"error\"]")" invalid_grant &&
	oidc login "$T/jarB" root@example.com "$PW" &&
	expect_eq "$(json "\"Invalid username or password.\" in j[\"body\"]")" true &&
	loggrep auth.log "login refused: user \"root@example.com\" is temporarily locked" &&
	i=0 &&
	until oidc token grant_type=password client_id=admin-cli username=root@example.com "password=$PW" &&
	    expect_eq "$(json "j[\"status\"]")" 200 2>/dev/null; do
		i=$((i + 1)) && test $i -lt 40 && sleep 0.25 || return 1
	done &&
	python3 -c "import sys, time; sys.exit(time.time() - float(sys.argv[1]) < 1.8)" "$(cat "$T/locked_at")" &&
	loggrep auth.log "login failed: bad password for user \"root@example.com\" from 127.0.0.1" &&
	loggrep auth.log "user \"root@example.com\" locked for 4 s" &&
	! grep -q "Bad#pass" "$T/log/auth.log" &&
	! grep -q "$PW" "$T/log/auth.log"
'

test_expect_success 'key rotation: new kid signs, old kid stays in the JWKS' '
	"$BIN/elp-auth" -c "$T/conf/services/auth.xml" rotate-keys >"$T/kid2" &&
	test "$(cat "$T/kid2")" != "$(cat "$T/kid1")" &&
	http GET "$OIDC/certs" >/dev/null &&
	expect_eq "$(json "sorted(k[\"kid\"] for k in j[\"keys\"]) == sorted([open(\"$T/kid1\").read().strip(), open(\"$T/kid2\").read().strip()])")" true &&
	oidc token grant_type=password client_id=admin-cli username=root@example.com "password=$PW" &&
	json "j[\"body\"][\"access_token\"]" >"$T/at_new" &&
	claims "$(cat "$T/at_new")" &&
	expect_eq "$(json "j[\"header\"][\"kid\"]")" "$(cat "$T/kid2")" &&
	claims "$(cat "$T/at_root")" &&
	expect_eq "$(json "j[\"header\"][\"kid\"]")" "$(cat "$T/kid1")"
'

test_expect_success 'a signing key readable by group or others is refused at start' '
	chmod 640 "$T"/var/auth/keys/key-*-1.pem &&
	auth_conf auth2 "$T/run/auth2.sock" &&
	{ timeout 20 "$BIN/elp-auth" -c "$T/conf/services/auth2.xml" \
	    >>"$T/log/auth2.log" 2>&1; test $? -eq 1; } &&
	loggrep auth2.log "cannot load signing key .*readable by group or others" &&
	chmod 600 "$T"/var/auth/keys/key-*-1.pem
'

test_expect_success 'admin listener: provider routes and service health' '
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/realms/e-learning-platform/.well-known/openid-configuration")" 200 &&
	expect_eq "$(json "j[\"issuer\"]")" "$ISS" &&
	expect_eq "$(http GET "http://127.0.0.1:$ADMIN_PORT/health/auth")" 200 &&
	expect_eq "$(json "j[\"responseBody\"][\"database\"]")" UP
'

test_done
