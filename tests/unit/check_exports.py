#!/usr/bin/python3
"""The dynamic symbols libqv.so.1 exports must be exactly the functions the
public headers declare, each bound to version QV_1.0."""
import pathlib
import re
import subprocess
import sys

lib, incdir = sys.argv[1], pathlib.Path(sys.argv[2])

declared = set()
for h in sorted(incdir.glob("*.h")):
    text = h.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", "", text, flags=re.M)
    # A prototype: an identifier followed by '(' at file scope, ending in ';'.
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*\([^;{]*\)\s*(?:__attribute__\(\(.*?\)\)\s*)?;", text, flags=re.S):
        name = m.group(1)
        if name.startswith(("vm_", "vcpu_", "snapshot_", "qv_")):
            declared.add(name)

out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                     capture_output=True, text=True).stdout
exported = {}
for line in out.splitlines():
    parts = line.split()
    if len(parts) < 3:
        continue
    sym = parts[2]
    name, _, version = sym.partition("@")
    version = version.lstrip("@")
    if name == "QV_1.0":  # the version definition itself
        continue
    exported[name] = version

ok = True
for name in sorted(declared - exported.keys()):
    print(f"declared in a header but not exported: {name}")
    ok = False
for name in sorted(exported.keys() - declared):
    print(f"exported but not declared in a public header: {name}")
    ok = False
for name, version in sorted(exported.items()):
    if version != "QV_1.0":
        print(f"{name} is bound to version '{version}', not QV_1.0")
        ok = False
print(f"{len(declared)} declared, {len(exported)} exported")
sys.exit(0 if ok else 1)
