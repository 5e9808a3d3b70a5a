#!/bin/bash
# PTX identity check for refactors of the kernel generators: writes one line
# per configuration (md5 prefix of the whole PTX, layer, pipeline options)
# over the check-matrix layers (scripts/gen-layers.py) and every example, at
# three fusion settings (default, fuse=false, max-context=32768). Diff two
# runs to see which configurations' PTX changed.
#
#   scripts/ptx-identity.sh [BUILD_DIR] OUTFILE
#   scripts/ptx-identity.sh build /tmp/ptx-base.txt    # before a change
#   scripts/ptx-identity.sh build /tmp/ptx-new.txt     # after it
#   diff /tmp/ptx-base.txt /tmp/ptx-new.txt
#
# Set KEEP_PTX=DIR to also keep every configuration's PTX there (to diff the
# kernels of a configuration that changed). A configuration that fails to
# compile is written as FAILED (never as the md5 of a stale file).
set -euo pipefail
if [ $# -eq 1 ]; then build=build; out=$1; else build=$1; out=$2; fi
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$out"
python3 "$root/scripts/gen-layers.py" "$work" > "$work/list"
layers=$(sed "s|^|$work/|; s|\$|.mlir|" "$work/list")
for f in $layers "$root"/examples/*.mlir; do
  for opt in "" "fuse=false" "max-context=32768"; do
    rm -f "$work/k.ptx"
    sum=FAILED
    if "$build/bin/hsa-opt" --hsa-lower-to-nvvm="format=isa $opt" "$f" \
         > "$work/ir.mlir" 2> "$work/err" &&
       python3 "$root/scripts/extract-ptx.py" "$work/ir.mlir" "$work/k.ptx" \
         2>> "$work/err"; then
      sum=$(md5sum < "$work/k.ptx" | cut -c1-12)
      if [ -n "${KEEP_PTX:-}" ]; then
        mkdir -p "$KEEP_PTX"
        cp "$work/k.ptx" "$KEEP_PTX/$(basename "$f" .mlir)${opt:+-$opt}.ptx"
      fi
    fi
    echo "$sum $(basename "$f") $opt" >> "$out"
  done
done
echo "$(wc -l < "$out") configurations, $(grep -c '^FAILED' "$out" || true) failed -> $out"
