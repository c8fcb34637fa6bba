#!/usr/bin/env bash
# After the suite: no number, code, token or IP address that any test used appears in any log line (or metric line)
# the suite wrote.
#   infra/check-log-privacy.sh DIR   (DIR holds logs.jsonl and secrets.txt, written by the tests)
set -euo pipefail
dir="$1"
[ -s "$dir/logs.jsonl" ] || { echo "log privacy: no log lines were captured in $dir" >&2; exit 1; }
[ -s "$dir/secrets.txt" ] || { echo "log privacy: no secrets were recorded in $dir" >&2; exit 1; }
python3 - "$dir" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
raw = (d / "logs.jsonl").read_text(errors="replace").splitlines()
# Everything a line says except its own timestamp (whose microseconds can look like a code): a log line's
# `timestamp`, a metric line's (EMF) `_aws.Timestamp` in milliseconds.
def content(line):
    try:
        record = json.loads(line)
    except ValueError:
        return line
    record.pop("timestamp", None)
    if isinstance(record.get("_aws"), dict):
        record["_aws"].pop("Timestamp", None)
    return json.dumps(record, ensure_ascii=False)
logs = "\n".join(content(line) for line in raw) + "\n"
secrets = {s for s in (d / "secrets.txt").read_text().split() if len(s) >= 6}
# A number is also leaked as its digits without "+".
secrets |= {s[1:] for s in secrets if s.startswith("+")}
# A secret made of digits (a code, a number) leaks only as a whole run of digits: a code that happens to stand inside
# a longer number (a random gid, a timestamp) is not that code.
import re
digit_runs = set(re.findall(r"\d+", logs))
def leaked(secret):
    return secret in digit_runs if secret.isdigit() else secret in logs
leaks = sorted(s for s in secrets if leaked(s))
lines = logs.count("\n")
if leaks:
    print(f"log privacy: {len(leaks)} secrets appear in {lines} log lines, e.g. {leaks[:5]}")
    sys.exit(1)
print(f"log privacy: {lines} log lines checked against {len(secrets)} numbers, codes, tokens and addresses: none appears")
PY
