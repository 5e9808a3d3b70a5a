#!/usr/bin/env python3
"""Prints the kernel records and launches of an hsa artifact (docs/ARTIFACT.md)
with their shared-memory sizes, one line each, for FileCheck:

  kernel NAME static_shared_bytes N max_dynamic_shared_bytes EXPR
  launch PLAN KERNEL dynamic_shared_bytes EXPR

EXPR is the postfix size expression in infix form (symbols by name, e.g.
`max(131072, batch * 64)`). Reads the format directly (no runtime needed);
exits non-zero on a file it cannot read as an artifact of the current format.

usage: dump-kernels.py ARTIFACT
"""
import os
import re
import struct
import sys

SYMBOLS = ["batch", "max_units", "max_tokens", "pool_pages", "q_heads", "kv_heads", "head_dim",
           "value_dim", "page_size", "groups", "heads_per_unit", "budget", "capacity", "sinks",
           "window", "element_bytes"]
BINARY = {3: "+", 4: "-", 5: "*"}
# The version the runtime reads, from the one header that states it.
FORMAT_VERSION = int(re.search(
    r"kFormatVersion = (\d+);",
    open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../runtime/include/hsa/artifact_format.h")).read(),
).group(1))
CALLS = {6: "ceil_div", 7: "min", 8: "max"}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    if data[:8] != b"HSAART\x00\x01" or struct.unpack_from("<I", data, 8)[0] != FORMAT_VERSION:
        sys.exit(f"{sys.argv[1]}: not an hsa artifact of format version {FORMAT_VERSION}")
    section_count, table = struct.unpack_from("<IQ", data, 28)
    sections = {}
    for i in range(section_count):
        kind, record_size, offset, size = struct.unpack_from("<IIQQ", data, table + 24 * i)
        sections[kind] = (record_size, offset, size)

    def records(kind, record_size):
        size_field, offset, size = sections[kind]
        assert size_field == record_size, f"section {kind}: record size {size_field}"
        return [data[offset + i:offset + i + record_size] for i in range(0, size, record_size)]

    strings_offset = sections[1][1]

    def string(at):
        start = strings_offset + at
        return data[start:data.index(b"\x00", start)].decode()

    code = [struct.unpack("<IIq", r) for r in records(5, 16)]

    def expr(first, count):
        stack = []  # (text, is an infix operation)
        for op, symbol, value in code[first:first + count]:
            if op == 1:
                stack.append((str(value), False))
            elif op == 2:
                stack.append((SYMBOLS[symbol], False))
            elif op in BINARY:
                b, a = stack.pop(), stack.pop()
                wrap = lambda t: f"({t[0]})" if t[1] else t[0]
                stack.append((f"{wrap(a)} {BINARY[op]} {wrap(b)}", True))
            else:
                b, a = stack.pop(), stack.pop()
                stack.append((f"{CALLS[op]}({a[0]}, {b[0]})", False))
        assert len(stack) == 1, "expression leaves %d values" % len(stack)
        return stack[0][0]

    kernels = []
    for r in records(7, 72):
        name, _entry = struct.unpack_from("<II", r, 0)
        static_shared, = struct.unpack_from("<I", r, 40)
        first, count = struct.unpack_from("<II", r, 64)
        kernels.append(string(name))
        print(f"kernel {string(name)} static_shared_bytes {static_shared} "
              f"max_dynamic_shared_bytes {expr(first, count)}")
    launches = records(9, 72)
    for r in records(8, 16):
        name, first_launch, launch_count, _ = struct.unpack("<IIII", r)
        for launch in launches[first_launch:first_launch + launch_count]:
            kernel, = struct.unpack_from("<I", launch, 0)
            first, count = struct.unpack_from("<II", launch, 64)
            print(f"launch {string(name)} {kernels[kernel]} dynamic_shared_bytes {expr(first, count)}")


if __name__ == "__main__":
    main()
