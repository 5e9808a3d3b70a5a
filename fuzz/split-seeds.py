#!/usr/bin/env python3
"""Seed corpus for hsa's fuzz targets: every given .mlir file split on
`// -----` (as hsa-opt -split-input-file splits it) into one input per part,
without its comment lines (RUN/CHECK/expected-* lines are comments to MLIR's
lexer; dropping them keeps mutations on the IR). Identical parts are kept
once. OUT is emptied of earlier seeds first, so reruns give the same set."""

import argparse
import hashlib
import os
import re
import sys

SPLIT = re.compile(r"^// -----.*$", re.MULTILINE)


def parts(text):
    for part in SPLIT.split(text):
        lines = [l for l in part.splitlines() if not l.lstrip().startswith("//")]
        body = "\n".join(lines).strip()
        if body:
            yield body + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, help="source tree root (names)")
    parser.add_argument("--out", required=True, help="seed directory (build tree)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if name.endswith(".mlir"):
            os.unlink(os.path.join(args.out, name))

    seen = set()
    written = 0
    for path in sorted(args.files):
        rel = os.path.relpath(path, args.root).replace(os.sep, "_")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for i, body in enumerate(parts(text)):
            digest = hashlib.sha1(body.encode()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            name = "%s.%03d.mlir" % (rel[: -len(".mlir")], i)
            with open(os.path.join(args.out, name), "w", encoding="utf-8") as f:
                f.write(body)
            written += 1
    print("split-seeds: %d inputs from %d files in %s" % (written, len(args.files), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
