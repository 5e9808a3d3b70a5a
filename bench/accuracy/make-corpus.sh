#!/usr/bin/env bash
# The training and evaluation text for bench/accuracy/train_trace.py: what
# Debian packages ship on this machine (documentation and C/C++ headers), in
# a fixed order, capped, xz-compressed. No download.
#   bench/accuracy/make-corpus.sh [OUT=build/accuracy/corpus.txt.xz] [MAX_MB=120]
# Prints the file's size and SHA-256 (the numbers of a trace run name it).
# Carry the output to the GPU machine (run's carry: build/accuracy).
set -euo pipefail
OUT=${1:-build/accuracy/corpus.txt.xz}
MAX_MB=${2:-120}
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
export LC_ALL=C
{
  # Documentation: READMEs, text and markdown, compressed changelogs and manuals.
  find /usr/share/doc -type f \( -name 'README*' -o -name '*.txt' -o -name '*.md' -o -name 'NEWS*' \
      -o -name 'changelog*.gz' -o -name 'copyright' \) 2>/dev/null | sort | while read -r f; do
    printf '\n\n==> %s <==\n' "$f"
    case "$f" in *.gz) zcat -- "$f" 2>/dev/null || true ;; *) cat -- "$f" ;; esac
  done
  # Source code: the system's C and C++ headers.
  find /usr/include -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.def' -o -name '*.inc' \) 2>/dev/null \
      | sort | while read -r f; do
    printf '\n\n==> %s <==\n' "$f"
    cat -- "$f"
  done
} 2>/dev/null | head -c $((MAX_MB * 1024 * 1024)) > "$tmp" || true  # head closing the pipe ends the producer
# Text only: bytes outside printable ASCII, tab and newline become spaces.
tr -c '\11\12\40-\176' ' ' < "$tmp" | xz -T2 -6 > "$OUT"
echo "corpus: $OUT, $(stat -c %s "$OUT") bytes compressed from $(stat -c %s "$tmp"), sha256 $(sha256sum "$OUT" | cut -d' ' -f1)"
