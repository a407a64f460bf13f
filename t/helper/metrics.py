#!/usr/bin/env python3
"""metrics.py FILE CHECK...: assertions on a Prometheus text exposition.

FILE holds what GET /metrics answered. Every sample (metric name plus its
label set) must appear once; then each CHECK must hold:

  NAME{SEL} OP NUM    every sample of NAME matching SEL satisfies OP NUM,
                      and at least one matches
  #NAME{SEL} OP NUM   the number of samples of NAME matching SEL
  +NAME{SEL} OP NUM   the sum of the samples of NAME matching SEL

SEL (optional, "{}" or left out for all) is a comma list of LABEL~REGEX,
each a re.search on the label's value. OP is one of == != <= >= < >. The
script prints every failed check with the samples it looked at and exits
1 if any failed.
"""
import operator
import re
import sys

OPS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le,
       ">=": operator.ge, "<": operator.lt, ">": operator.gt}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
CHECK = re.compile(r'^([#+]?)([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s*'
                   r'(==|!=|<=|>=|<|>)\s*(-?[0-9.]+)$')


def parse(path):
    samples = []
    seen = {}
    dups = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            if m is None:
                dups.append("unparsable line: " + line)
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            key = (m.group(1), tuple(sorted(labels.items())))
            if key in seen:
                dups.append("sample twice: " + line)
            seen[key] = True
            samples.append((m.group(1), labels, float(m.group(4)), line))
    return samples, dups


def select(samples, name, sel):
    conds = []
    for part in filter(None, (sel or "").split(",")):
        k, _, rx = part.partition("~")
        conds.append((k.strip(), re.compile(rx)))
    return [s for s in samples if s[0] == name and
            all(k in s[1] and rx.search(s[1][k]) for k, rx in conds)]


def run(samples, check):
    m = CHECK.match(check.strip())
    if m is None:
        return ["bad check: " + check]
    kind, name, sel, op, num = m.group(1), m.group(2), m.group(4), \
        OPS[m.group(5)], float(m.group(6))
    got = select(samples, name, sel)
    if kind == "#":
        ok = op(len(got), num)
        detail = ["%d samples" % len(got)]
    elif kind == "+":
        ok = op(sum(s[2] for s in got), num)
        detail = ["sum %g" % sum(s[2] for s in got)]
    else:
        bad = [s for s in got if not op(s[2], num)]
        ok = len(got) > 0 and not bad
        detail = [s[3] for s in bad[:10]] or ["%d samples" % len(got)]
    if ok:
        return []
    return ["failed: " + check] + ["  " + d for d in detail]


samples, errs = parse(sys.argv[1])
for c in sys.argv[2:]:
    errs += run(samples, c)
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
