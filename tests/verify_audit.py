#!/usr/bin/env python3
"""Checks a clipwarden audit chain by SPEC's rule alone, never re-serialising JSON.
Usage: verify_audit.py SEGMENT... (oldest first: audit-YYYY-MM*.jsonl, then audit.jsonl)."""
import hashlib, json, re, sys

MARK, ZERO = b',"hash":"', "0" * 64
last, start, vouched, count = None, None, False, 0  # last: (seq, hash) of the line before
for path in sys.argv[1:]:
    lines = open(path, "rb").read().split(b"\n")
    for no, line in enumerate(lines, 1):
        if no == len(lines) and not line:
            break  # what follows the final newline; anything else there is a torn line
        m = re.match(rb'\{"seq":(\d+)', line)
        where = f"seq {int(m[1]) if m else '?'} ({path} line {no})"
        i = line.rfind(MARK)
        h = line[i + len(MARK):] if i >= 0 else b""
        if no == len(lines) or not re.fullmatch(rb'[0-9a-f]{64}"\}', h) \
                or hashlib.sha256(line[:i]).hexdigest().encode() != h[:64]:
            sys.exit(f"FAIL {where}: torn line, or the hash does not match the line's bytes")
        seq = prev = None
        try:
            e = json.loads(line)
            seq, prev = e["seq"], e["prev"]
            ok = type(seq) is int and (seq, prev) == ((last[0] + 1, last[1]) if last else (1, ZERO))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok and not (last is None and type(seq) is int and seq > 1):
            sys.exit(f"FAIL {where}: bad JSON, or seq and prev do not follow seq {last[0] if last else 0}")
        if last is None and seq > 1:
            start = (seq - 1, prev)  # earlier segments pruned: an audit_pruned entry must vouch
        if start and e.get("event") == "audit_pruned" and isinstance(e.get("segments"), list):
            vouched |= any(isinstance(s, dict) and (s.get("last_seq"), s.get("last_hash")) == start
                           for s in e["segments"])
        last, count = (seq, h[:64].decode()), count + 1
if start and not vouched:
    sys.exit(f"FAIL seq {start[0] + 1}: the log begins after seq 1, with no audit_pruned entry for seq {start[0]}")
print(f"ok: {count} entries, head seq {last[0] if last else 0}")
