"""Runs hsa-run on ARTIFACT pinned to the digest in DIGEST_FILE, then to a
wrong digest; prints each exit status and the refusal's message.
usage: run-pinned.py HSA_RUN ARTIFACT DIGEST_FILE"""
import subprocess
import sys

run, artifact, digest_file = sys.argv[1:4]
digest = open(digest_file).read().strip()
common = [run, artifact, "--backend=cpu", "--steps=1", "--context=100", "--quiet"]
ok = subprocess.run(common + ["--sha256=" + digest], capture_output=True, text=True)
print(f"pinned ok: rc {ok.returncode}")
wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
bad = subprocess.run(common + ["--sha256=" + wrong], capture_output=True, text=True)
print(f"wrong pin: rc {bad.returncode} " + " ".join((bad.stdout + bad.stderr).split())[:300])
