"""Fails if a compile command has a -D argument that holds a space."""
import json
import shlex
import sys

commands = json.load(open(sys.argv[1]))
bad = [(entry["file"], arg) for entry in commands
       for arg in shlex.split(entry.get("command", ""))
       if arg.startswith("-D") and " " in arg]
for file, arg in bad[:5]:
    print(f"{file}: {arg!r}")
if bad:
    sys.exit(f"{len(bad)} compile commands pass several definitions as one")
print(f"{len(commands)} compile commands, every -D is one definition")
