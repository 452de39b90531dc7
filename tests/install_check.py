#!/usr/bin/env python3
"""Checks an installed mpsbatch: `cmake --install BUILD --prefix PREFIX` put
mpsbatch and its user scripts in PREFIX/bin, and they run from a clean
environment (no LD_LIBRARY_PATH, a bare PATH).

Usage: install_check.py PREFIX TORCH_LIB_DIR SOURCE_DIR

- mpsbatch's RUNPATH (readelf -d) names TORCH_LIB_DIR, and ldd, in a clean
  environment, finds every library, libtorch in TORCH_LIB_DIR;
- `mpsbatch --version` runs in a clean environment;
- mpsbatch-export (and mpsbatch-plot where SOURCE_DIR/scripts/plot_run.py
  exists) is installed, executable, and answers --help.
"""
import os
import re
import subprocess
import sys

# No LD_LIBRARY_PATH and no venv on PATH; MPI's own settings stay (a host may
# need them for MPI to start at all, e.g. its launch agent).
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/")}
CLEAN_ENV.update({k: v for k, v in os.environ.items() if k.startswith(("OMPI_", "OPAL_", "PMIX_"))})


def run(argv, env=None):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def main():
    prefix, torch_lib, source = sys.argv[1:4]
    torch_lib = os.path.realpath(torch_lib)
    failures = []
    binary = os.path.join(prefix, "bin", "mpsbatch")

    rc, out = run(["readelf", "-d", binary])
    runpath = re.search(r"\((?:RUNPATH|RPATH)\).*\[(.*)\]", out)
    folders = [os.path.realpath(p) for p in runpath.group(1).split(":")] if runpath else []
    if torch_lib not in folders:
        failures.append(f"{binary}: RUNPATH {folders} does not name libtorch's folder {torch_lib}")

    rc, out = run(["ldd", binary], env=CLEAN_ENV)
    if "not found" in out:
        failures.append(f"ldd {binary} in a clean environment finds no:\n" +
                        "\n".join(line for line in out.splitlines() if "not found" in line))
    torch_line = re.search(r"libtorch\.so\S* => (\S+)", out) or re.search(r"libtorch_cpu\.so\S* => (\S+)", out)
    if not torch_line or os.path.dirname(os.path.realpath(torch_line.group(1))) != torch_lib:
        failures.append(f"ldd {binary}: libtorch does not resolve into {torch_lib}:\n{out}")

    rc, out = run([binary, "--version"], env=CLEAN_ENV)
    if rc != 0 or "mpsbatch" not in out:
        failures.append(f"{binary} --version in a clean environment: exit {rc}:\n{out}")

    scripts = ["mpsbatch-export"]
    if os.path.exists(os.path.join(source, "scripts", "plot_run.py")):
        scripts.append("mpsbatch-plot")
    for name in scripts:
        path = os.path.join(prefix, "bin", name)
        if not os.access(path, os.X_OK):
            failures.append(f"{path}: not installed, or not executable")
            continue
        rc, out = run([path, "--help"], env=CLEAN_ENV)
        if rc != 0:
            failures.append(f"{path} --help in a clean environment: exit {rc}:\n{out}")

    for f in failures:
        print(f"FAIL: {f}")
    if failures:
        sys.exit(1)
    print(f"ok: {binary} (RUNPATH {torch_lib}), {', '.join(scripts)}")


if __name__ == "__main__":
    main()
