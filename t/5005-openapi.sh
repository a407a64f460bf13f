#!/bin/sh
# docs/openapi.json against the gateway: every route prefix of the public
# listeners (api, and stream for paths whose servers name port 8082) in
# conf/gateway.xml is documented, every documented path lies
# under one of them, and every documented operation is served by the real
# stack (never the gateway's or a service's "No endpoint").
. "$(dirname "$0")/lib.sh"

DOC=$ROOT/docs/openapi.json

test_expect_success 'the document is OpenAPI 3 with paths' '
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"openapi\"].startswith(\"3.\"); assert d[\"paths\"]" "$DOC"
'

test_expect_success 'documented paths and the public routes of conf/gateway.xml match' '
	python3 - "$DOC" "$ROOT/conf/gateway.xml" <<PY
import json, sys, xml.etree.ElementTree as ET
doc = json.load(open(sys.argv[1]))
# A path whose servers name port 8082 is on the stream listener.
listener = lambda ops: ("stream" if any(s["url"].endswith(":8082")
                        for s in ops.get("servers", [])) else "api")
routes = [(r.get("listen"), r.get("prefix"))
          for r in ET.parse(sys.argv[2]).getroot().iter("route")
          if r.get("listen") in ("api", "stream")]
paths = [(listener(ops), p) for p, ops in doc["paths"].items()]
under = lambda p, r: p[0] == r[0] and (p[1] == r[1] or
                                      p[1].startswith(r[1] + "/"))
# Aggregate routes: documented by their exact path template.
aggs = [(a.get("listen"), a.get("path"))
        for a in ET.parse(sys.argv[2]).getroot().iter("aggregate")
        if a.get("listen") in ("api", "stream")]
bad = [p for p in paths if not any(under(p, r) for r in routes) and
       p not in aggs]
undoc = [r for r in routes if not any(under(p, r) for p in paths)]
undoc += [a for a in aggs if a not in paths]
assert not bad, "documented but not routed: %s" % bad
assert not undoc, "routed but not documented: %s" % undoc
PY
'

test_expect_success 'start the stack with the routes of conf/gateway.xml' '
	db_up && auth_up && course_up &&
	# elp-messaging serves /messaging-api; its routes come from
	# conf/gateway.xml below like the others.
	R=$ROUTES && messaging_up && ROUTES=$R &&
	mkdir -p "$T/conf/services" &&
	sed -e "s|unix:[./]*var/run/user.sock|unix:$T/run/user.sock|" \
	    -e "s|\"[./]*var/mariadb/mysqld.sock|\"$T/var/mariadb/mysqld.sock|" \
	    -e "s|\"[./]*var/secrets/|\"$T/var/secrets/|g" \
	    -e "s|http://127.0.0.1:9190|http://127.0.0.1:$ADMIN_PORT|g" \
	    -e "s|http://localhost:8080|http://127.0.0.1:$IDP_PORT|g" \
	    -e "/<register /,/\/>/d" \
	    "$ROOT/conf/services/user.xml" >"$T/conf/services/user.xml" &&
	spawn user "$BIN/elp-user" -c "$T/conf/services/user.xml" &&
	mkdir -p "$T/media" &&
	sed -e "s|unix:[./]*var/run/content.sock|unix:$T/run/content.sock|" \
	    -e "s|\"[./]*var/mariadb/mysqld.sock|\"$T/var/mariadb/mysqld.sock|" \
	    -e "s|\"[./]*var/secrets/|\"$T/var/secrets/|g" \
	    -e "s|root=\"[./]*var/media\"|root=\"$T/media\"|" \
	    -e "s|http://127.0.0.1:9190|http://127.0.0.1:$ADMIN_PORT|g" \
	    -e "s|http://localhost:8080|http://127.0.0.1:$IDP_PORT|g" \
	    -e "/<register /,/\/>/d" \
	    "$ROOT/conf/services/content.xml" >"$T/conf/services/content.xml" &&
	spawn content "$BIN/elp-content" -c "$T/conf/services/content.xml" &&
	wait_for test -S "$T/run/user.sock" &&
	wait_for test -S "$T/run/content.sock" &&
	STREAM_PORT=$(free_port) &&
	ROUTES="$ROUTES
$(python3 -c "import sys, xml.etree.ElementTree as E
for r in E.parse(sys.argv[1]).getroot().iter(\"route\"):
    if r.get(\"listen\") in (\"api\", \"stream\"):
        for l in r.findall(\"limit\"):
            r.remove(l)
        if r.get(\"offload-root\"):
            r.set(\"offload-root\", sys.argv[2])
        print(\"  \" + E.tostring(r, encoding=\"unicode\").strip())
for a in E.parse(sys.argv[1]).getroot().iter(\"aggregate\"):
    if a.get(\"listen\") in (\"api\", \"stream\"):
        print(\"  \" + E.tostring(a, encoding=\"unicode\").strip())" "$ROOT/conf/gateway.xml" "$T/media")" \
	SERVICES_EXTRA="$SERVICES_EXTRA
  <service name=\"user\"><instance address=\"unix:$T/run/user.sock\" maxconn=\"2\"/></service>
  <service name=\"content\"><instance address=\"unix:$T/run/content.sock\" maxconn=\"2\"/></service>" \
	GW_AUTH="<auth issuer=\"http://127.0.0.1:$IDP_PORT/realms/e-learning-platform\" service=\"auth\" audience=\"elp-api\"/>" \
	gateway_up
'

test_expect_success 'every documented operation is served' '
	python3 - "$DOC" "http://127.0.0.1:$API_PORT" "http://127.0.0.1:$STREAM_PORT" <<PY
import json, sys, urllib.request, urllib.error
doc, api, stream = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
missing = []
for path, ops in doc["paths"].items():
    servers = ops.pop("servers", [])
    base = stream if any(s["url"].endswith(":8082") for s in servers) else api
    url = base + "/".join("00000000-0000-4000-8000-000000000000"
                          if s.startswith("{") else s for s in path.split("/"))
    for method in ops:
        data = b"{}" if method in ("post", "put") else None
        req = urllib.request.Request(url, data=data, method=method.upper(),
                                     headers={"Content-Type": "application/json"})
        try:
            r = urllib.request.urlopen(req, timeout=10)
            code, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, body = e.code, e.read()
        msg = json.loads(body or b"{}").get("errorBody", {}).get("errorMessage", "")
        if code == 404 and msg.startswith("No endpoint") or code in (405, 502, 503):
            missing.append("%s %s -> %d %s" % (method.upper(), path, code, msg))
for m in missing:
    print(m)
assert not missing
PY
'

test_done
