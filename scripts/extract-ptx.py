#!/usr/bin/env python3
"""Writes the PTX held by the gpu.binary of an MLIR file (hsa-opt output)."""
import re
import sys

text = open(sys.argv[1]).read()
match = re.search(r'#gpu\.object<#nvvm\.target<[^>]*>, (?:properties = \{[^}]*\}, )?'
                  r'(?:assembly = )?"((?:[^"\\]|\\.)*)"', text)
if not match:
    sys.exit(f"{sys.argv[1]}: no gpu.binary with PTX (run gpu-module-to-binary{{format=isa}})")
ptx = re.sub(r'\\([0-9A-Fa-f]{2})', lambda h: chr(int(h.group(1), 16)), match.group(1))
open(sys.argv[2], "w").write(ptx.replace("\\\\", "\\"))
