#!/usr/bin/python3
"""maillink.py: prints the first http(s) link in the body of a stored
message (an .eml file of smtp-sink.py), after undoing its
quoted-printable encoding; with --to, prints the To: address instead.

usage: maillink.py FILE [--to]
"""
import email
import email.policy
import re
import sys

msg = email.message_from_binary_file(open(sys.argv[1], "rb"),
                                     policy=email.policy.default)
if sys.argv[2:] == ["--to"]:
    print(msg["To"])
    sys.exit(0)
body = msg.get_body(preferencelist=("plain",)).get_content()
m = re.search(r"https?://\S+", body)
if not m:
    sys.exit("no link in " + sys.argv[1])
print(m.group(0))
