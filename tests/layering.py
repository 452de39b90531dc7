#!/usr/bin/env python3
"""The layout of src/ as docs/architecture.md draws it, checked on the code:
each folder includes only the folders it may (the table "The layout"), torch
headers only under src/infer/, MPI's header and MPI_ calls only under
src/comm/. Prints every breach and exits 1 on any.

Usage: layering.py SRC_DIR
"""
import pathlib
import re
import sys

# Folder -> the folders of ours it may include (docs/architecture.md).
MAY_INCLUDE = {
    "common": set(),
    "config": {"common"},
    "hdf5": {"common"},
    "read": {"common", "config", "hdf5"},
    "infer": {"common", "config"},
    "comm": {"common", "config"},
    "write": {"common", "hdf5"},
    "plan": {"common", "config", "read", "infer", "comm", "write"},
    "run": {"common", "config", "hdf5", "read", "infer", "comm", "write", "plan", "mpsbatch"},
    "app": {"common", "config", "hdf5", "read", "infer", "comm", "write", "plan", "run", "mpsbatch"},
}
TORCH = re.compile(r'#\s*include\s*<(torch|ATen|c10)/')
MPI_HEADER = re.compile(r'#\s*include\s*<mpi\.h>')
MPI_CALL = re.compile(r'\bMPI_[A-Z][A-Za-z_]*\s*\(')
OURS = re.compile(r'#\s*include\s*"([a-z0-9_]+)/')


def code_of(text):
    """The text without comments and string literals (calls named in prose are no calls)."""
    text = re.sub(r'//[^\n]*', '', text)
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


def main():
    src = pathlib.Path(sys.argv[1])
    breaches = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cpp", ".in"):
            continue
        folder = path.relative_to(src).parts[0]
        if folder not in MAY_INCLUDE:
            breaches.append(f"{path}: folder '{folder}' is not in the layout")
            continue
        text = path.read_text()
        for m in OURS.finditer(text):
            if m.group(1) != folder and m.group(1) not in MAY_INCLUDE[folder]:
                breaches.append(f"{path}: {folder}/ includes {m.group(1)}/")
        if folder != "infer" and TORCH.search(text):
            breaches.append(f"{path}: a torch header outside src/infer/")
        if folder != "comm":
            if MPI_HEADER.search(text):
                breaches.append(f"{path}: <mpi.h> outside src/comm/")
            for m in MPI_CALL.finditer(code_of(text)):
                breaches.append(f"{path}: {m.group(0).rstrip('(').strip()} called outside src/comm/")
    for b in breaches:
        print(b)
    print(f"layering: {len(breaches)} breach(es)")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
