#!/usr/bin/env python3
"""Fails if libtorch serves the C++ runtime to anything but itself.

Runs each binary given (BINARY [ARG ...] separated by `--`) with the dynamic
linker's trace (LD_DEBUG=bindings, LD_BIND_NOW=1, so every symbol is bound at
start-up) and reads, for every symbol binding, which object asked and which
object served. A binding from an object that is not libtorch or c10 (the
executable, libstdc++, yaml-cpp, spdlog, HDF5, MPI, an AOTInductor package)
into libtorch*/libc10* is a failure when the symbol belongs to the C++ runtime:
std::, __gnu_cxx:: and __cxxabiv1:: entities, type information and vtables of
anything that is not torch's, operator new and delete, __cxa_* and _Unwind_*,
and anything versioned GLIBCXX_ or CXXABI_. Torch's own API (c10::, at::,
torch::) is what the engine links against and is fine.

Libraries loaded after libtorch (its own dependencies such as cuDNN or
cuFile, and what torch opens later: an AOTInductor package, cuDNN's engines)
come after it in the lookup order whatever the executable does. They find
libstdc++ before torch for everything libstdc++ defines; a template
instantiation that libstdc++ does not hold (std::vector<int>::_M_realloc_insert)
goes by ELF's rule to the first library loaded that exports it, torch. For
those objects only symbols that libstdc++.so.6 itself defines count.

Exit 0: no such binding; 1: the bindings found, demangled; 77: no glibc
dynamic linker trace here (not Linux), skipped.
"""
import os
import re
import subprocess
import sys
import tempfile

TORCH_LIB = re.compile(r"/lib(torch|c10)[^/]*\.so[^/]*$")
FILE_LINE = re.compile(r"file=(\S+) \[\d+\];\s+(needed by|dynamically loaded by) (\S+) \[\d+\]")
LINE = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'(?: \[([^\]]+)\])?")
# Runtime entities, by their mangled prefix after _Z, an optional special
# name (TI typeinfo, TS typeinfo name, TV vtable, TT VTT, GV guard, TH/TW TLS)
# and an optional nested-name start N with qualifiers.
STD_ENTITY = re.compile(r"^_Z(?:T[ISVTHW]|GV)?(?:N[rVKRO]*)?(?:St|S[absiod]|9__gnu_cxx|10__cxxabiv1)")
TYPEINFO = re.compile(r"^_ZT[ISV]")
TORCH_TYPE = re.compile(r"^_ZT[ISV]N?[rVK]*(?:3c10|2at|5torch|6caffe2|4aoti)")
NEW_DELETE = re.compile(r"^_Z(?:nw|na|dl|da)")
C_RUNTIME = re.compile(r"^(?:__cxa_|__gxx_|__dynamic_cast|_Unwind_|__once_proxy)")


def is_runtime_symbol(symbol, version):
    if version and (version.startswith("GLIBCXX_") or version.startswith("CXXABI_")):
        return True
    if STD_ENTITY.match(symbol) or NEW_DELETE.match(symbol) or C_RUNTIME.match(symbol):
        return True
    return bool(TYPEINFO.match(symbol) and not TORCH_TYPE.match(symbol))


def demangle(symbols):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(symbols), capture_output=True, text=True, check=True)
        return out.stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return symbols


def defined_symbols(library):
    """The dynamic symbols `library` defines, without their versions."""
    try:
        out = subprocess.run(["nm", "-D", "--defined-only", library], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {line.split()[-1].split("@")[0] for line in out.stdout.splitlines() if line.split()}


def late_objects(lines):
    """Basenames of the objects loaded after the first libtorch/libc10 (the
    trace lists objects in load order), and of those opened with dlopen."""
    late, torch_seen, executable = set(), False, None
    for line in lines:
        m = FILE_LINE.search(line)
        if not m:
            continue
        name, how, parent = m.group(1), m.group(2), m.group(3)
        executable = executable or parent  # the first object named is the program
        if TORCH_LIB.search("/" + os.path.basename(name)):
            torch_seen = True
        elif parent == executable and how == "needed by":
            continue  # the program's own NEEDED entries: their order is ours to set
        elif torch_seen or how == "dynamically loaded by" or os.path.basename(parent) in late:
            late.add(os.path.basename(name))
    return late


def check(command):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LD_BIND_NOW="1", LD_DEBUG="files,bindings",
                   LD_DEBUG_OUTPUT=os.path.join(tmp, "trace"))
        run = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             timeout=300)
        if run.returncode != 0:
            sys.stderr.write(run.stderr)
            return None, f"{' '.join(command)} exited {run.returncode}"
        traces = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("trace")]
        if not traces:
            return None, "no trace written"
        bad, served = [], 0
        for trace in traces:
            with open(trace, errors="replace") as f:
                lines = f.readlines()
            late = late_objects(lines)
            runtime = None  # what libstdc++ defines, read when first needed
            for line in lines:
                m = LINE.search(line)
                if not m or not TORCH_LIB.search(m.group(2)) or TORCH_LIB.search(m.group(1)):
                    continue
                who, symbol, version = m.group(1), m.group(3), m.group(4)
                served += 1
                if not is_runtime_symbol(symbol, version):
                    continue
                if os.path.basename(who) in late:
                    if runtime is None:
                        runtime = set()
                        for other in lines:
                            lib = re.search(r"to (\S*/libstdc\+\+\.so[^ ]*) \[", other)
                            if lib:
                                runtime = defined_symbols(lib.group(1))
                                break
                    if runtime and symbol not in runtime:
                        continue
                bad.append((os.path.basename(who), os.path.basename(m.group(2)), symbol, version or ""))
        return (bad, served), None


def main(argv):
    if not sys.platform.startswith("linux"):
        print("runtime_bindings: no glibc dynamic linker here; skipped")
        return 77
    commands, current = [], []
    for a in argv:
        if a == "--":
            if current:
                commands.append(current)
            current = []
        else:
            current.append(a)
    if current:
        commands.append(current)
    failed = False
    for command in commands:
        result, problem = check(command)
        name = os.path.basename(command[0])
        if problem:
            print(f"runtime_bindings: {name}: {problem}")
            failed = True
            continue
        bad, served = result
        if not bad:
            print(f"runtime_bindings: {name}: libtorch serves {served} symbol(s) of torch's API, none of the C++ runtime")
            continue
        failed = True
        print(f"runtime_bindings: {name}: {len(bad)} C++ runtime symbol(s) served by libtorch:")
        names = demangle([b[2] for b in bad])
        for (who, lib, _, version), readable in sorted(zip(bad, names)):
            print(f"  {who} -> {lib}: {readable}" + (f" [{version}]" if version else ""))
    if failed:
        print("runtime_bindings: FAILED (see cmake/TorchRuntime.cmake)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
