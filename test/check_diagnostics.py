#!/usr/bin/env python3
"""Checks that every verifier diagnostic has an invalid.mlir case.

Usage: check_diagnostics.py SOURCE_DIR TEST_FILE...

Collects each `emitError() << ...;` / `emitOpError() << ...;` chain in the C++
sources, and requires every string literal of the chain to occur in some
`expected-error {{...}}` of the test files. Prints the uncovered ones.
"""
import pathlib
import re
import sys

EMIT = re.compile(r"emit(?:Op)?Error\(\)")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
EXPECTED = re.compile(r"expected-error[^{]*\{\{(.*)\}\}")


def chains(text):
    for match in EMIT.finditer(text):
        end = text.find(";", match.end())
        chain = text[match.end():end]
        # Adjacent literals ("a" "b") are one string in C++.
        chain = re.sub(r'"\s*\n\s*"', "", chain)
        yield [m.group(1).encode().decode("unicode_escape")
               for m in LITERAL.finditer(chain)]


def main():
    source_dir, tests = pathlib.Path(sys.argv[1]), sys.argv[2:]
    expected = []
    for test in tests:
        expected += EXPECTED.findall(pathlib.Path(test).read_text())
    corpus = "\n".join(expected)
    missing, total = [], 0
    for source in sorted(source_dir.glob("*.cpp")):
        for literals in chains(source.read_text()):
            total += 1
            for literal in literals:
                if literal.strip() and literal not in corpus:
                    missing.append(f"{source.name}: {literal!r}")
    print(f"diagnostic chains: {total}, expected-error cases: {len(expected)}")
    for line in missing:
        print("uncovered:", line)
    return 1 if missing or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
