#!/usr/bin/env python3
"""A generated sanitized data lake for the digest --s3 benchmark (scripts/bench-lake.sh).

Takes a corpus of sanitized lines (fixtures/digest/generate.py's, with its users) and writes it
the way the template's Firehose stream does: gzip NDJSON objects of at most 128 MB of lines under
PREFIX/dt=YYYY-MM-DD/, by the day of each line. To reach --lines it writes the corpus several
times over, each copy's sourceEventIds made distinct by a leading copy number (so every line
is a distinct event, as in a real lake), its users and sessions unchanged.

  lake-corpus.py --corpus /tmp/base.ndjson --lines 22000000 --out /tmp/lake
"""

import argparse
import gzip
import os
import re

OBJECT_BYTES = 128 * 1000 * 1000  # Firehose's largest buffer
TIME = re.compile(rb'"timeUnixNano":"(\d+)"')
NS_PER_DAY = 86400 * 10**9


def day_of(ns):
    import datetime
    return datetime.datetime.fromtimestamp(ns // 10**9, datetime.UTC).strftime("%Y-%m-%d")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--corpus", required=True)
    p.add_argument("--lines", type=int, default=22_000_000)
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", default="sanitized")
    a = p.parse_args()
    by_day = {}
    with open(a.corpus, "rb") as f:
        for line in f:
            m = TIME.search(line)
            if m:
                by_day.setdefault(day_of(int(m.group(1))), []).append(line.rstrip(b"\n"))
    base = sum(len(v) for v in by_day.values())
    copies = max(1, -(-a.lines // base))
    written = objects = raw = 0
    for day in sorted(by_day):
        folder = os.path.join(a.out, a.prefix, f"dt={day}")
        os.makedirs(folder, exist_ok=True)
        part, size, out = 0, 0, None
        for copy in range(copies):
            tag = b'"sourceEventId":"%d' % (copy + 1)
            for line in by_day[day]:
                if written >= a.lines:
                    break
                if out is None or size >= OBJECT_BYTES:
                    if out:
                        out.close()
                    out = gzip.open(os.path.join(folder, f"claude-otel-lake-1-{day}-{part:04d}.gz"), "wb", compresslevel=1)
                    part, size, objects = part + 1, 0, objects + 1
                text = line.replace(b'"sourceEventId":"', tag, 1) + b"\n"
                out.write(text)
                size += len(text)
                raw += len(text)
                written += 1
        if out:
            out.close()
    print(f"{written} lines ({copies} copies of {base}), {objects} objects, {raw} bytes of lines")


if __name__ == "__main__":
    main()
