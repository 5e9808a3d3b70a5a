"""Runs `opt --<pipeline> --dump-pass-pipeline`, replays the printed pipeline
with --pass-pipeline, and fails unless both outputs are identical.
usage: replay-pipeline.py OPT PIPELINE_FLAG INPUT"""
import re
import subprocess
import sys

opt, flag, source = sys.argv[1:4]
direct = subprocess.run([opt, flag, "--dump-pass-pipeline", source], capture_output=True, text=True, check=True)
lines = [l for l in direct.stderr.splitlines() if l.strip() and not l.startswith("Pass Manager")]
pipeline = "".join(l.strip() for l in lines)
replayed = subprocess.run([opt, "--pass-pipeline=" + pipeline, source], capture_output=True, text=True)
if replayed.returncode != 0:
    sys.exit(f"the printed pipeline does not replay:\n{pipeline}\n{replayed.stderr[:2000]}")
# Serialization records how long it took; nothing else may differ.
timing = re.compile(r"LLVMIRToISATimeInMs = \d+")
if timing.sub("", replayed.stdout) != timing.sub("", direct.stdout):
    sys.exit("the replayed pipeline gives another module")
print(f"replayed: {pipeline[:120]}...")
