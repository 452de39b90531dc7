#!/usr/bin/env python3
"""Runs README.md's job example verbatim, so that the README cannot drift
from what works.

Usage: readme_example.py SOURCE_DIR PREFIX PYTHON WORKDIR

From the section "## A job" of SOURCE_DIR/README.md it takes the yaml block
(the demo's job, which must say what jobs/demo.yaml says) and the sh block.
In WORKDIR, a fresh stand-in for the repository's root, it writes the yaml
block to jobs/demo.yaml, makes the demo's data with scripts/make_demo.py,
and runs the sh block with bash in a clean environment whose PATH is
PREFIX/bin (an installed mpsbatch) and the system's folders. The block must
exit 0 and leave jobs/data/scores.h5 with every digit scored.
"""
import os
import re
import shutil
import subprocess
import sys

import h5py
import yaml


def main():
    source, prefix, python, work = sys.argv[1:5]
    with open(os.path.join(source, "README.md")) as f:
        readme = f.read()
    section = re.search(r"^## A job\n(.*?)(?=^## )", readme, re.S | re.M)
    if not section:
        sys.exit("README.md has no section '## A job'")
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", section.group(1), re.S | re.M)
    job = [text for lang, text in blocks if lang == "yaml"]
    shell = [text for lang, text in blocks if lang == "sh"]
    if len(job) != 1 or len(shell) != 1:
        sys.exit(f"README.md '## A job': expected one yaml and one sh block, found {[lang for lang, _ in blocks]}")
    with open(os.path.join(source, "jobs", "demo.yaml")) as f:
        if yaml.safe_load(job[0]) != yaml.safe_load(f):
            sys.exit("README.md '## A job': the yaml block is not what jobs/demo.yaml says")

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "jobs"))
    with open(os.path.join(work, "jobs", "demo.yaml"), "w") as f:
        f.write(job[0])
    subprocess.run([python, os.path.join(source, "scripts", "make_demo.py"), os.path.join(work, "jobs", "data")],
                   check=True, timeout=600)
    env = {"PATH": os.path.join(os.path.abspath(prefix), "bin") + ":/usr/bin:/bin",
           "HOME": os.environ.get("HOME", "/")}
    # MPI's own settings stay: a host may need them for MPI to start at all.
    env.update({k: v for k, v in os.environ.items() if k.startswith(("OMPI_MCA_", "OPAL_", "PMIX_"))})
    print(f"running README.md's block in {work}:\n{shell[0]}", flush=True)
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", shell[0]], cwd=work, env=env, timeout=900)
    if r.returncode != 0:
        sys.exit(f"README.md's job example exited {r.returncode}")
    with h5py.File(os.path.join(work, "jobs", "data", "scores.h5"), "r") as f:
        rows = f["logits"].shape[0]
    if rows != 1797:
        sys.exit(f"jobs/data/scores.h5 holds {rows} rows, not the demo's 1797")
    print("ok: README.md's job example ran and scored 1797 rows")


if __name__ == "__main__":
    main()
