#!/usr/bin/env python3
"""bench-report.py: the tables and docs/benchmarks.md of scripts/bench.

Run by scripts/bench, which passes its settings and measurements in the
environment; reads the raw wrk output (var/bench/wrk/SCENARIO-LABEL-ROUND.txt),
the CPU time of each measured run (var/bench/runs.tsv: "SCENARIO LABEL
ROUND TICKS") and the generated configurations (var/bench/conf/).
"""
import os
import re
import statistics
import sys

E = os.environ
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
NAME = {"elp": "elp-gateway", "nginx": "nginx", "haproxy": "HAProxy"}
NAN = float("nan")
HOWTO = """## How to run

`make bench` builds and runs everything (`scripts/bench`); `make bench-idle`
runs the idle scenario only. It needs nginx (Debian nginx-light), HAProxy,
wrk, curl, openssl, python3 and MariaDB (`scripts/install-deps`); the open
files limit must allow 2 × `BENCH_IDLE_CONNS` + 400 descriptors. Run it on a
quiet machine: other load on the cores moves every figure. With the defaults
it takes about 20 to 25 minutes (10 scenarios; a 3 s warm-up and 3
rounds of 10 s per proxy, each after a 1.5 s pause; the stack scenario's
MariaDB set-up; the idle scenario's 9000 connections per proxy).

    make bench
    BENCH_SCENARIOS="c64 c1" BENCH_SECONDS=5 scripts/bench
    BENCH_SECONDS=2 BENCH_ROUNDS=1 BENCH_WARMUP=1 BENCH_IDLE_CONNS=500 \\
        BENCH_OUT=var/bench/smoke.md scripts/bench       # smoke run

The report goes to `docs/benchmarks.md` only from a run of every scenario
with `BENCH_SECONDS` ≥ 5 and `BENCH_ROUNDS` ≥ 2; other runs write
`var/bench/benchmarks.md` unless `BENCH_OUT` says otherwise. Scenarios:
`c64 c1 c1000 bytes post file tls aggregate stack idle` (the script's
header describes each). Environment:

| Variable | Default | Meaning |
| --- | --- | --- |
| `BENCH_SCENARIOS` | all ten | the scenarios to run, space-separated |
| `BENCH_SECONDS` | `10` | length of one measured wrk run |
| `BENCH_ROUNDS` | `3` | measured rounds per proxy and scenario (proxy order rotated per round) |
| `BENCH_WARMUP` | `3` | length of the unmeasured warm-up run per proxy and scenario |
| `BENCH_TIMEOUT` | `2s` | wrk's request timeout; slower requests count as timeouts |
| `BENCH_PROCS` | number of CPUs | worker processes of elp-gateway and nginx, threads of HAProxy |
| `BENCH_NGINX_KA` | `32` | nginx upstream `keepalive` (idle connections cached per worker) |
| `BENCH_ECHO` | 2 × `BENCH_NGINX_KA` × `BENCH_PROCS` | fcgi-echo workers, the one pool behind all three proxies |
| `BENCH_MAXCONN` | `BENCH_ECHO` | elp-gateway instance `maxconn`, HAProxy server `maxconn` and `pool-max-conn` |
| `BENCH_IDLE_CONNS` | `9000` | connections of the idle scenario |
| `BENCH_IDLE_SOURCES` | `8` | client source addresses 127.0.0.2.. of the idle scenario |
| `BENCH_AGG_CONNS` | `4` | wrk connections of the aggregate scenario |
| `BENCH_STACK_CONNS` | `64` | wrk connections of the stack scenario |
| `BENCH_COURSE_WORKERS` | `16` | elp-course workers (and their gateway `maxconn`) in the stack scenario |
| `BENCH_OUT` | see above | the report's path; `-` for none |
| `BUILD` | `build` | build directory of the binaries |
| `NGINX`, `HAPROXY` | `/usr/sbin/nginx`, `/usr/sbin/haproxy` | the peers' binaries |

Everything at runtime lives under `var/bench/`: the generated configurations
(`conf/`), logs (`log/`), the raw wrk output of every run (`wrk/`), the CPU
time of every measured run (`runs.tsv`) and the stack scenario's MariaDB
(`stack/`). The script stops exactly the processes it started, and that
MariaDB, also when interrupted (Ctrl-C).
"""

if sys.argv[1:] == ["--howto"]:
    sys.stdout.write(HOWTO)
    sys.exit(0)

B = E["B"]
ROOT = E["ROOT"]
ROUNDS = int(E["ROUNDS"])
CLK = int(E["CLK_TCK"])
SEL = E["SEL"].split()


def ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNIT[m.group(2)] if m else NAN


def parse(path):
    try:
        t = open(path).read()
    except OSError:
        t = ""
    r = {"rps": 0.0, "p50": NAN, "p99": NAN, "max": NAN, "req": 0,
         "connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0}
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", t, re.M)
    if m:
        r["rps"] = float(m.group(1))
    for q in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+(\S+)" % q, t, re.M)
        if m:
            r["p" + q] = ms(m.group(1))
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", t, re.M)
    if m:
        r["max"] = ms(m.group(1))
    m = re.search(r"^\s+(\d+) requests in", t, re.M)
    if m:
        r["req"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", t)
    if m:
        for k, v in zip(("connect", "read", "write", "timeout"), m.groups()):
            r[k] = int(v)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    if m:
        r["non2xx"] = int(m.group(1))
    # wrk counts every response; only the 2xx ones are useful work.
    r["ok"] = r["rps"] * (r["req"] - r["non2xx"]) / r["req"] if r["req"] \
        else 0.0
    return r


TICKS = {}
try:
    for line in open(os.path.join(B, "runs.tsv")):
        f = line.split()
        if len(f) == 4:
            TICKS[(f[0], f[1], f[2])] = int(f[3])
except OSError:
    pass


def agg(sc, px):
    """The rounds of label px in scenario sc, or None when it did not run."""
    rounds = [str(i) for i in range(1, ROUNDS + 1)
              if (sc, px, str(i)) in TICKS]
    if not rounds:
        return None
    runs = [parse("%s/wrk/%s-%s-%s.txt" % (B, sc, px, i)) for i in rounds]
    a = {k: statistics.median(x[k] for x in runs)
         for k in ("rps", "ok", "p50", "p99")}
    a["max"] = max(x["max"] for x in runs)
    a["rounds"] = " / ".join("%.0f" % x["ok"] for x in runs)
    for k in ("req", "connect", "read", "write", "timeout", "non2xx"):
        a[k] = sum(x[k] for x in runs)
    a["errors"] = a["connect"] + a["read"] + a["write"]
    ticks = sum(TICKS[(sc, px, i)] for i in rounds)
    # CPU of the proxy's processes per request wrk completed, in µs.
    a["cpu"] = ticks * 1e6 / CLK / a["req"] if a["req"] else NAN
    return a


def fms(v):
    if v != v:
        return "n/a"
    if v >= 1000:
        return "%.2f s" % (v / 1e3)
    return "%.0f µs" % (v * 1e3) if v < 1 else "%.2f ms" % v


def fus(v):
    return "n/a" if v != v else "%.1f µs" % v


def ratio(a, b):
    return "%.2f" % (a / b) if b and a == a and b == b else "n/a"


LOAD = [("c64", "64 keep-alive connections, small JSON",
         "wrk -t2 -c64 .../b/small"),
        ("c1", "1 connection, small JSON", "wrk -t1 -c1 .../b/small"),
        ("c1000", "1000 connections, small JSON",
         "wrk -t2 -c1000 .../b/small"),
        ("bytes", "64 connections, 64 KiB answers",
         "wrk -t2 -c64 .../b/bytes?n=65536"),
        ("post", "64 connections, 4 KiB POST bodies echoed back",
         "wrk -t2 -c64 -s post.lua .../b/echo"),
        ("file", "64 connections, 1 MiB file the app hands to the proxy "
         "(X-Accel-Redirect, sendfile)",
         "wrk -t2 -c64 .../b/offload?path=/media/file.bin"),
        ("tls", "64 keep-alive TLS connections, small JSON",
         "wrk -t2 -c64 https://.../b/small")]
res = {}
for sc, _, _ in LOAD:
    if sc in SEL:
        res[sc] = {px: agg(sc, px) for px in ("elp", "nginx", "haproxy")}


def table(sc):
    r = res[sc]
    pxs = [px for px in ("elp", "nginx", "haproxy") if r[px] is not None]
    e = r["elp"]

    def row(label, fn, ratios=None):
        cells = [fn(r[px]) for px in pxs]
        rs = []
        for px in ("nginx", "haproxy"):
            if px in pxs:
                rs.append(ratios(e, r[px]) if ratios and e else "")
        return "| %s | %s | %s |" % (label, " | ".join(cells),
                                      " | ".join(rs))

    head = "| | %s | %s |" % (" | ".join(NAME[px] for px in pxs),
                              " | ".join("elp ÷ %s" % NAME[px]
                                         for px in pxs[1:]))
    out = [head, "| --- |" + " ---: |" * (2 * len(pxs) - 1)]
    out.append(row("2xx requests/s (median)", lambda a: "%.0f" % a["ok"],
                   lambda a, b: ratio(a["ok"], b["ok"])))
    out.append(row("2xx requests/s per round", lambda a: a["rounds"]))
    out.append(row("p50 latency (median)", lambda a: fms(a["p50"]),
                   lambda a, b: ratio(a["p50"], b["p50"])))
    out.append(row("p99 latency (median)", lambda a: fms(a["p99"]),
                   lambda a, b: ratio(a["p99"], b["p99"])))
    out.append(row("max latency (worst round)", lambda a: fms(a["max"])))
    out.append(row("**CPU per request** (proxy's processes)",
                   lambda a: "**%s**" % fus(a["cpu"]),
                   lambda a, b: ratio(a["cpu"], b["cpu"])))
    out.append(row("requests done (all rounds)", lambda a: str(a["req"])))
    out.append(row("timeouts (all rounds)", lambda a: str(a["timeout"])))
    out.append(row("socket errors connect/read/write",
                   lambda a: "%d/%d/%d" % (a["connect"], a["read"],
                                           a["write"])))
    out.append(row("non-2xx responses", lambda a: str(a["non2xx"])))
    return "\n".join(out)


def get(sc, px):
    return res.get(sc, {}).get(px)


# --- aggregate ---------------------------------------------------------------
AGG = {}
if "aggregate" in SEL and E["AGG_OK"] == "1":
    AGG = {k: agg("aggregate", k)
           for k in ("agg", "part20", "part40", "part60")}
    if any(v is None for v in AGG.values()):
        AGG = {}

# --- stack -------------------------------------------------------------------
STK = {}
if "stack" in SEL and E["STACK_OK"] == "1":
    STK = {k: agg("stack", k)
           for k in ("stackauth", "stackpublic", "stacksmall")}
    if any(v is None for v in STK.values()):
        STK = {}

# --- idle: IDLE_<proxy> = "OK OPEN SECONDS RSS0 PSS0 RSS1 PSS1 REASONS" -----
IDLE_N = int(E["IDLE_N"])
TARGET = int(E["IDLE_TARGET"])
idle = {}
if "idle" in SEL:
    for px in ("elp", "nginx", "haproxy"):
        f = E.get("IDLE_" + px, "").split()
        if len(f) < 8:
            idle[px] = None
            continue
        d = {"ok": int(f[0]), "open": int(f[1]), "secs": f[2],
             "rss0": int(f[3]), "pss0": int(f[4]), "rss1": int(f[5]),
             "pss1": int(f[6]), "why": " ".join(f[7:])}
        # Figures only when every connection got its 200 and was still
        # open at the second measurement.
        d["valid"] = d["ok"] == IDLE_N and d["open"] == IDLE_N
        for k in ("rss", "pss"):
            d[k + "_b"] = (d[k + "1"] - d[k + "0"]) * 1024 / IDLE_N \
                if d["valid"] else None
        idle[px] = d


def per_conn(d, k):
    if d is None or d[k + "_b"] is None:
        return "n/a"
    return "{:,.0f} B".format(d[k + "_b"])


def mib(d, k):
    return "%.1f MiB" % (d[k] / 1024) if d and d["valid"] else "n/a"


def idle_ratio(d, k):
    n = idle.get("nginx")
    if d is None or d[k + "_b"] is None or n is None or \
            n[k + "_b"] is None or n[k + "_b"] <= 0:
        return "n/a"
    return "%.2f" % (d[k + "_b"] / n[k + "_b"])


def idle_table():
    pxs = ("elp", "nginx", "haproxy")

    def row(label, fn):
        return "| %s | %s |" % (label, " | ".join(fn(idle[px])
                                                  for px in pxs))
    out = ["| | %s |" % " | ".join(NAME[px] for px in pxs),
           "| --- |" + " ---: |" * len(pxs)]
    out.append(row("connections that got their 200 and stayed open",
                   lambda d: "n/a" if d is None else
                   "%d / %d" % (min(d["ok"], d["open"]), IDLE_N)))
    out.append(row("failures", lambda d: "n/a" if d is None else
                   (d["why"] if d["why"] != "-" else "none")))
    out.append(row("time to open them and get the responses",
                   lambda d: "n/a" if d is None else "%s s" % d["secs"]))
    out.append(row("RSS before", lambda d: mib(d, "rss0")))
    out.append(row("RSS with the connections idle",
                   lambda d: mib(d, "rss1")))
    out.append(row("**RSS per idle connection**",
                   lambda d: "**%s**" % per_conn(d, "rss")))
    out.append(row("RSS per connection ÷ nginx's",
                   lambda d: idle_ratio(d, "rss")))
    out.append(row("PSS before", lambda d: mib(d, "pss0")))
    out.append(row("PSS with the connections idle",
                   lambda d: mib(d, "pss1")))
    out.append(row("**PSS per idle connection**",
                   lambda d: "**%s**" % per_conn(d, "pss")))
    return "\n".join(out)


# --- targets: (what, measured, target, verdict) --------------------------------
NOT_RUN = "not measured (scenario not selected)"
targets = []


def target(what, goal, measured, ok):
    targets.append((what, measured, goal,
                    "n/a" if ok is None else ("**met**" if ok
                                              else "**not met**")))


e, n = get("c64", "elp"), get("c64", "nginx")
if e and n:
    target("c64: throughput and tail against nginx",
           "≥ 1.3 × nginx's 2xx requests/s and p99 ≤ nginx's",
           "%s × nginx (%.0f vs %.0f requests/s); p99 %s vs %s" %
           (ratio(e["ok"], n["ok"]), e["ok"], n["ok"], fms(e["p99"]),
            fms(n["p99"])),
           n["ok"] > 0 and e["ok"] >= 1.3 * n["ok"] and
           e["p99"] <= n["p99"])
else:
    target("c64: throughput and tail against nginx",
           "≥ 1.3 × nginx's 2xx requests/s and p99 ≤ nginx's", NOT_RUN,
           None)
h = get("c64", "haproxy")
if e:
    others = "; ".join("%s %s" % (NAME[px], fus(x["cpu"]))
                       for px, x in (("nginx", n), ("haproxy", h)) if x)
    target("gateway CPU per proxied request (c64)", "≤ 15 µs",
           "%s (%s)" % (fus(e["cpu"]), others),
           e["cpu"] == e["cpu"] and e["cpu"] <= 15)
else:
    target("gateway CPU per proxied request (c64)", "≤ 15 µs", NOT_RUN,
           None)
e, n = get("c1", "elp"), get("c1", "nginx")
if e and n:
    target("c1: latency against nginx", "p50 and p99 ≤ nginx's",
           "p50 %s vs %s; p99 %s vs %s" % (fms(e["p50"]), fms(n["p50"]),
                                           fms(e["p99"]), fms(n["p99"])),
           e["p50"] <= n["p50"] and e["p99"] <= n["p99"])
else:
    target("c1: latency against nginx", "p50 and p99 ≤ nginx's", NOT_RUN,
           None)
e, h = get("c1000", "elp"), get("c1000", "haproxy")
if e and h:
    bad = e["timeout"] + e["errors"] + e["non2xx"]
    target("c1000: no timeout, throughput against HAProxy",
           "0 timeouts (errors, non-2xx) and ≥ 1.5 × HAProxy's 2xx "
           "requests/s",
           "%d timeouts, %d socket errors, %d non-2xx; %s × HAProxy "
           "(%.0f vs %.0f requests/s)" %
           (e["timeout"], e["errors"], e["non2xx"], ratio(e["ok"], h["ok"]),
            e["ok"], h["ok"]),
           bad == 0 and e["req"] > 0 and h["ok"] > 0 and
           e["ok"] >= 1.5 * h["ok"])
else:
    target("c1000: no timeout, throughput against HAProxy",
           "0 timeouts and ≥ 1.5 × HAProxy's 2xx requests/s", NOT_RUN, None)
stack_why = NOT_RUN if "stack" not in SEL else \
    (E["STACK_WHY"] or "not available")
if STK:
    a, p, s = STK["stackauth"], STK["stackpublic"], STK["stacksmall"]
    target("stack: authenticated course list (gateway → elp-course → "
           "MariaDB)", "≥ 30 % of the gateway's small-JSON rate",
           "%.0f %% (%.0f vs %.0f requests/s, the same gateway)" %
           (100 * a["ok"] / s["ok"] if s["ok"] else 0, a["ok"], s["ok"]),
           s["ok"] > 0 and a["ok"] >= 0.3 * s["ok"])
    target("stack: cost of authentication",
           "authenticated ≤ 1.1 × the cost of unauthenticated "
           "(time per request at full load = 1 ÷ requests/s)",
           "%s × (%.0f vs %.0f requests/s); gateway CPU per request %s "
           "vs %s" % (ratio(p["ok"], a["ok"]), a["ok"], p["ok"],
                      fus(a["cpu"]), fus(p["cpu"])),
           a["ok"] > 0 and p["ok"] <= 1.1 * a["ok"])
else:
    target("stack: authenticated course list (gateway → elp-course → "
           "MariaDB)", "≥ 30 % of the gateway's small-JSON rate",
           stack_why, None if "stack" not in SEL else False)
    target("stack: cost of authentication",
           "authenticated ≤ 1.1 × the cost of unauthenticated", stack_why,
           None if "stack" not in SEL else False)
if AGG:
    parts = [AGG["part20"], AGG["part40"], AGG["part60"]]
    slow = max(x["p50"] for x in parts)
    total = sum(x["p50"] for x in parts)
    target("aggregate of three parts (20, 40, 60 ms)",
           "p50 ≈ the slowest part's p50 (≤ 1.1 ×), far below their sum",
           "p50 %s; slowest part %s, sum of the parts %s" %
           (fms(AGG["agg"]["p50"]), fms(slow), fms(total)),
           AGG["agg"]["p50"] <= 1.1 * slow and
           AGG["agg"]["non2xx"] + AGG["agg"]["timeout"] == 0)
else:
    why = NOT_RUN if "aggregate" not in SEL else \
        (E["AGG_WHY"] or "not available")
    target("aggregate of three parts (20, 40, 60 ms)",
           "p50 ≈ the slowest part's p50 (≤ 1.1 ×)", why, None)
if "idle" in SEL:
    d = idle.get("elp")
    others = "; ".join("%s %s" % (NAME[px], per_conn(idle.get(px), "rss"))
                       for px in ("nginx", "haproxy"))
    if d is not None and d["valid"]:
        target("memory per idle keep-alive connection (RSS growth ÷ %d)"
               % IDLE_N, "≤ %d B" % TARGET,
               "%s (%s)" % (per_conn(d, "rss"), others),
               d["rss_b"] <= TARGET)
    else:
        target("memory per idle keep-alive connection", "≤ %d B" % TARGET,
               "%s of %d connections got their 200 and stayed open" %
               ("none" if d is None else min(d["ok"], d["open"]), IDLE_N),
               False)
else:
    target("memory per idle keep-alive connection", "≤ %d B" % TARGET,
           NOT_RUN, None)


def targets_table():
    out = ["| Target | Measured | Goal | |", "| --- | --- | --- | --- |"]
    out += ["| %s | %s | %s | %s |" % t for t in targets]
    return "\n".join(out)


def agg_table():
    rows = [("aggregate `/agg` (parts a, b, c in parallel)", AGG["agg"]),
            ("part a alone `/b/sleep?ms=20`", AGG["part20"]),
            ("part b alone `/b/sleep?ms=40`", AGG["part40"]),
            ("part c alone `/b/sleep?ms=60`", AGG["part60"])]
    out = ["| | requests/s | p50 | p99 | max | timeouts | non-2xx | "
           "gateway CPU per request |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, a in rows:
        out.append("| %s | %.0f | %s | %s | %s | %d | %d | %s |" %
                   (label, a["ok"], fms(a["p50"]), fms(a["p99"]),
                    fms(a["max"]), a["timeout"], a["non2xx"],
                    fus(a["cpu"])))
    total = sum(AGG[k]["p50"] for k in ("part20", "part40", "part60"))
    out.append("| sum of the parts' p50 | | %s | | | | | |" % fms(total))
    return "\n".join(out)


def stack_table():
    rows = [("course list with a token (`auth=\"token\"`)",
             STK["stackauth"]),
            ("the same list without a token (public route)",
             STK["stackpublic"]),
            ("small JSON from fcgi-echo (same gateway)", STK["stacksmall"])]
    out = ["| | 2xx requests/s | per round | p50 | p99 | max | timeouts | "
           "non-2xx | gateway CPU per request |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, a in rows:
        out.append("| %s | %.0f | %s | %s | %s | %s | %d | %d | %s |" %
                   (label, a["ok"], a["rounds"], fms(a["p50"]),
                    fms(a["p99"]), fms(a["max"]), a["timeout"],
                    a["non2xx"], fus(a["cpu"])))
    return "\n".join(out)


# --- the terminal summary -----------------------------------------------------
for sc, title, cmd in LOAD:
    if sc in res:
        print("\n## %s (%s)\n" % (title, cmd))
        print(table(sc))
if AGG:
    print("\n## Aggregate route\n")
    print(agg_table())
if STK:
    print("\n## Full stack\n")
    print(stack_table())
if "idle" in SEL:
    print("\n## Memory per idle keep-alive connection\n")
    print(idle_table())
print("\n## Targets\n")
for what, measured, goal, verdict in targets:
    print("- %s: %s; goal %s: %s" % (what, measured, goal,
                                     verdict.replace("*", "")))

if E["OUT"] == "-":
    sys.exit(0)


def conf(name):
    try:
        return open(os.path.join(B, "conf", name)).read().replace(
            ROOT + "/", "").rstrip("\n")
    except OSError:
        return ""


def lines(name, pattern):
    """The lines of a generated configuration that match pattern."""
    return "\n".join(x.strip() for x in conf(name).splitlines()
                     if re.search(pattern, x))


doc = []
w = doc.append
w("# elp-gateway vs nginx and HAProxy: benchmark\n")
w("Generated by `make bench` (`scripts/bench`); rerun it on a quiet machine "
  "to refresh this file. The raw wrk output of every run is kept in "
  "`var/bench/wrk/`, the generated configurations in `var/bench/conf/`.\n")
if E["FULL"] != "1":
    w("**Partial run**: only the scenarios %s.\n" %
      ", ".join("`%s`" % x for x in SEL))
w("- Date: %s" % E["DATE"])
w("- Commit: %s" % E["COMMIT"])
w("- Machine: %s, %s cores, %.1f GiB RAM, Linux %s" %
  (E["CPU"], E["CORES"], int(E["RAM_KB"]) / 1048576, E["KERNEL"]))
w("- nginx %s (Debian nginx-light), HAProxy %s (Debian haproxy), "
  "wrk %s" % (E["NGX_VER"].replace("nginx/", ""), E["HAP_VER"],
              E["WRK_VER"]))
w("- Settings: `BENCH_SECONDS=%s BENCH_ROUNDS=%d BENCH_WARMUP=%s "
  "BENCH_TIMEOUT=%s BENCH_PROCS=%s BENCH_NGINX_KA=%s BENCH_ECHO=%s "
  "BENCH_MAXCONN=%s BENCH_IDLE_CONNS=%s BENCH_IDLE_SOURCES=%s "
  "BENCH_AGG_CONNS=%s BENCH_STACK_CONNS=%s BENCH_COURSE_WORKERS=%s`" %
  (E["SECS"], ROUNDS, E["WARM"], E["WRK_TIMEOUT"], E["PROCS"], E["NGX_KA"],
   E["ECHO_N"], E["MAXCONN"], E["IDLE_N"], E["IDLE_SRC"], E["AGG_C"],
   E["STACK_C"], E["COURSE_N"]))
w("- Wall time of the measurements: %s s\n" % E["ELAPSED"])
w("## Targets\n")
w("Every target is listed, met or not; \"n/a\" marks one whose scenario "
  "was not run.\n")
w(targets_table() + "\n")
w("## Setup\n")
w("Everything runs on one machine over loopback: wrk, the proxies and the "
  "FastCGI pool share its %s cores, so the figures compare the proxies "
  "with each other, not with a production host. The same settings hold "
  "for all three proxies unless a line says otherwise.\n" % E["CORES"])
w("- **One backend for all**: `build/t/helper/fcgi-echo -w %s` on one unix "
  "socket (`GET /small`: a 54-byte JSON envelope; `GET /bytes?n=65536`; "
  "`POST /echo`; `GET /sleep?ms=M`; `GET /offload`). Each worker serves one "
  "FastCGI connection at a time, for as long as it stays open. The pool "
  "has 2 × nginx's `keepalive` × nginx's workers = 2 × %s × %s workers, so "
  "the connections nginx caches never take all of them." %
  (E["ECHO_N"], E["NGX_KA"], E["PROCS"]))
w("- **Same processes**: elp-gateway `workers=\"%s\"`, nginx "
  "`worker_processes %s`, HAProxy `nbthread %s` (one worker process under "
  "its master, `-W`)." % (E["PROCS"], E["PROCS"], E["PROCS"]))
w("- **Same cap on the app**: elp-gateway instance `maxconn=\"%s\"` "
  "(counted across its workers; excess requests wait in its queue), "
  "HAProxy server `maxconn %s` (excess requests wait in its queue); nginx "
  "has no queue in its open-source version: `keepalive %s` idle "
  "connections cached per worker with `fastcgi_keep_conn on`, as "
  "ngx_http_upstream_module documents for FastCGI, and a new connection "
  "for every request that finds none idle." %
  (E["MAXCONN"], E["MAXCONN"], E["NGX_KA"]))
w("- **Access logs off for all three** (gateway: no `access` attribute; "
  "nginx `access_log off`; HAProxy: no `log`); error logs at warn / crit.")
w("- **Connection limits** high enough for 1000 and %s connections: "
  "gateway `<limits connections=\"%s\"/>` per worker, nginx "
  "`worker_connections %s` with `worker_rlimit_nofile %s`, HAProxy "
  "`maxconn %s`; the script's open files limit %s. Client keep-alive "
  "timeout %s s for all; nginx `keepalive_requests 1000000` (client and "
  "upstream), so it does not close wrk's connections after its default "
  "1000 requests, which the other two never do." %
  (E["IDLE_N"], E["CONN_LIMIT"], E["CONN_LIMIT"], E["NGX_NOFILE"],
   E["HAP_MAXCONN"], E["NOFILE_LIM"], E["KEEP_S"]))
w("- **Idle backend connections** are closed after %s s by the gateway "
  "(`<timeouts backend-idle>`) and nginx (upstream `keepalive_timeout`); "
  "HAProxy closes half of its idle ones every `pool-purge-delay` (%s s), so "
  "its last one goes some 8 s after its run. Every run starts %s s after "
  "the previous one and, past that, only once no connection to the shared "
  "pool is left (`ss -x`), so connections another proxy kept alive never "
  "hold workers of the pool during a run." %
  (E["IDLE_S"], E["IDLE_S"], E["SETTLE"]))
w("- HAProxy as its manual (section 10, FastCGI applications) sets up a "
  "FastCGI backend: `fcgi-app` with `option keep-conn`, `use-fcgi-app`, "
  "`proto fcgi` on the server, `pool-max-conn %s`; `http-reuse always`, as "
  "every app worker serves one connection and any request may take any "
  "idle one. It has no X-Accel-Redirect, so it sits out the file "
  "scenario." % E["MAXCONN"])
w("- TLS: one self-signed P-256 certificate, TLS 1.2 and 1.3, the "
  "gateway's default TLS 1.2 ciphers for all three; nginx with a shared "
  "session cache.")
w("- nginx `fastcgi_buffers 16 8k`: a 64 KiB answer stays in memory (the "
  "default 8 × 4k/8k would spill it into a temporary file).")
w("- Active health checks off for the gateway (`<health enabled=\"no\"/>`), "
  "none for nginx, no `check` for HAProxy.")
w("- Load: wrk, HTTP/1.1 keep-alive, request timeout %s (slower requests "
  "count as timeouts and are not in the latency percentiles). Per "
  "scenario one %s s warm-up run per proxy, then %d measured rounds of %s "
  "s; the order of the proxies rotates by one each round, so drift of the "
  "machine hits all alike. Requests/s (2xx responses only) and latencies "
  "are the medians of the rounds; timeouts, errors and non-2xx responses "
  "are summed over the rounds." % (E["WRK_TIMEOUT"], E["WARM"], ROUNDS,
                                   E["SECS"]))
w("- **CPU per request**: utime + stime + cutime + cstime from "
  "`/proc/PID/stat` of all of the proxy's processes (master, workers and "
  "their threads, and children that exited), read right before and after "
  "each measured run, summed over the rounds and divided by the requests "
  "wrk completed in them (clock ticks of %s Hz: over a run of several "
  "seconds the error is well under 1 %%)." % E["CLK_TCK"])
w("- The post scenario sends 4096-byte bodies (`post.lua`: `wrk.method = "
  "\"POST\"`, a 4 KiB `wrk.body`); every proxy must echo one back "
  "byte-exact before the load, and must answer 65536 bytes to "
  "`/bytes?n=65536` and serve the offloaded 1 MiB file byte-exact.")
if "aggregate" in SEL:
    w("- Aggregate: the gateway's `<aggregate listen=\"api\" path=\"/agg\" "
      "token=\"none\">` with parts `/sleep?ms=20` (`on-error=\"fail\"`), "
      "`/sleep?ms=40`, `/sleep?ms=60` of the same pool, against each part "
      "alone through the same gateway, `wrk -t1 -c%s`, interleaved like "
      "the proxies. The scenario is skipped (a \"not available\" row) when "
      "`elp-gateway -t` refuses the element." % E["AGG_C"])
if "stack" in SEL:
    w("- Stack: a private MariaDB under `var/bench/stack/` (`scripts/db up`, "
      "`seed`: the demo courses), `scripts/auth init`, elp-auth (2 "
      "workers, cheap Argon2), elp-course (%s workers, gateway "
      "`maxconn=\"%s\"`), and a gateway of its own (%s workers) with "
      "`<auth issuer service=\"auth\" audience=\"elp-api\"/>`. A token from "
      "the password grant (`admin-cli`, an ADMIN account made with "
      "`elp-auth create-user`) is sent to `GET %s` behind "
      "`auth=\"token\"`; the same list without a token comes from the "
      "public route `GET %s`; small JSON from fcgi-echo through the same "
      "gateway is the yardstick; `wrk -t2 -c%s` each, interleaved. The "
      "gateway keeps verified tokens in its cache (`<auth cache>`), as in "
      "production." % (E["COURSE_N"], E["COURSE_N"], E["PROCS"],
                       "/course-management-api?pageNumber=0&limit=10",
                       "/public/course-management-api?pageNumber=0&limit=10",
                       E["STACK_C"]))
if "idle" in SEL:
    w("- Idle: for each proxy in turn, alone and freshly started, "
      "`t/helper/idle-conns.py` makes 16 warm-up requests, the memory is "
      "read, then it opens %d keep-alive connections from 127.0.0.2.."
      "127.0.0.%d, each sends one `GET /b/small`, reads the 200 and stays "
      "open; %s s after the last response the memory is read again and "
      "the client checks that none was closed. Memory is `Rss` and `Pss` "
      "of `/proc/PID/smaps_rollup` summed over master and workers; per "
      "connection is (with − before) ÷ %d, judged on RSS. Memory allocated "
      "up front for the connection limits is in \"before\"; kernel socket "
      "memory is in neither." % (IDLE_N, 1 + int(E["IDLE_SRC"]),
                                 E["SETTLE"], IDLE_N))
w("")
w("Key lines of the generated configurations (all of them at the end):\n")
w("```")
w("# gateway.xml / services.xml")
w(lines("gateway.xml", r"<gateway|<limits|<timeouts|<route|<tls|<aggregate"))
w(lines("services.xml", r"<instance|<health"))
w("# nginx.conf")
w(lines("nginx.conf", r"worker_|access_log|keepalive|fastcgi_keep_conn|"
        r"fastcgi_buffers|fastcgi_pass|listen|sendfile"))
w("# haproxy.cfg")
w(lines("haproxy.cfg", r"nbthread|maxconn|bind|http-reuse|option keep-conn|"
        r"server |use-fcgi-app|timeout queue"))
w("```\n")
for sc, title, cmd in LOAD:
    if sc in res:
        w("## %s\n" % title)
        w("`%s`\n" % cmd)
        w(table(sc) + "\n")
w("## Aggregate route\n")
if AGG:
    w(agg_table() + "\n")
else:
    w("%s.\n" % (NOT_RUN if "aggregate" not in SEL else
                 (E["AGG_WHY"] or "not available")).capitalize())
w("## Full stack: gateway → elp-course → MariaDB\n")
if STK:
    w(stack_table() + "\n")
else:
    w("%s.\n" % stack_why[0].upper() + stack_why[1:])
if "idle" in SEL:
    w("## Memory per idle keep-alive connection\n")
    w("`t/helper/idle-conns.py PORT /b/small %d %s`; target ≤ %d B of RSS "
      "per connection.\n" % (IDLE_N, E["IDLE_SRC"], TARGET))
    w(idle_table() + "\n")


def rss(k):
    v = E.get(k, "")
    return "%.1f MiB" % (int(v) / 1024) if v else "n/a"


w("## Memory under load\n")
w("VmRSS of the master plus its worker processes (`/proc/PID/status`):\n")
w("| | elp-gateway | nginx | HAProxy |")
w("| --- | ---: | ---: | ---: |")
w("| before any load | %s | %s | %s |" %
  (rss("RSS0_elp"), rss("RSS0_nginx"), rss("RSS0_haproxy")))
if "c1000" in SEL:
    w("| after the last 1000-connection round | %s | %s | %s |" %
      (rss("RSS1_elp"), rss("RSS1_nginx"), rss("RSS1_haproxy")))
w("")
w("## Reading the figures\n")
w("Each app worker serves one connection at a time, so with more clients "
  "than app workers requests wait somewhere. elp-gateway and HAProxy make "
  "them wait in their own queue, first come, first served, on at most "
  "`maxconn` connections. nginx opens a new upstream connection for every "
  "request that finds no idle one; those wait in the pool's listen "
  "backlog until a worker is free, while the requests that find a cached "
  "connection go at once: a low median and a long tail (timeouts are "
  "requests that waited more than %s).\n" % E["WRK_TIMEOUT"])
w(HOWTO)
w("## Configurations used\n")
w("`gateway.xml`:\n\n```xml\n%s\n```\n" % conf("gateway.xml"))
w("`services.xml`:\n\n```xml\n%s\n```\n" % conf("services.xml"))
w("`nginx.conf`:\n\n```nginx\n%s\n```\n" % conf("nginx.conf"))
w("`haproxy.cfg`:\n\n```haproxy\n%s\n```" % conf("haproxy.cfg"))
if STK:
    w("\n`gateway-stack.xml`:\n\n```xml\n%s\n```\n" %
      conf("gateway-stack.xml"))
    w("`services-stack.xml`:\n\n```xml\n%s\n```" % conf("services-stack.xml"))
with open(E["OUT"], "w") as f:
    f.write("\n".join(doc) + "\n")
print("\nwrote %s" % E["OUT"])
