#!/usr/bin/env python3
"""mpsbatch benchmarks, one workload per call, every contender in one run:

  ceiling      the model alone on device-resident data, bf16, eager and
               torch.compile(mode="reduce-overhead") (CUDA graphs)
  hdf5_read    reading the whole input with h5py (the I/O bound of the MLP)
  dataloader   peer 1: h5py + DataLoader workers + bf16 model -> HDF5 (peer_dataloader.py)
  mpi4py       peer 2: N processes read slices, rank 0 gathers and writes (peer_mpi.py)
  mpsbatch     mpirun -n N mpsbatch, HDF5 in to HDF5 out, bf16, on the one GPU;
               calibrated afresh every run (calibration_cache: off), except
               the "warm cache" row: a second run that takes the first's
               calibration from the cache; "read=hdf5" reads through HDF5
               instead of straight from the file; with --aoti, "package only"
               runs the AOTInductor package as model.path, without TorchScript
  cpu          (--cpu-rows) mpsbatch on the CPU with N ranks against N threads
               sharing one model in one process, fp32, one intra-op thread each

Every rate is rows / wall seconds of the whole command (process start to end)
except the ceiling's and hdf5_read's, which time their loop. Results go to
--json (one object per line) and a table on stdout.

Usage: bench.py WORKLOAD --mpsbatch build/src/mpsbatch --work DIR [--rows N] [--batch B]
                [--ranks 1,2,4,8] [--peer-ranks 4] [--no-compile] [--no-peers] [--cpu-rows N] [--json FILE]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", PYTHONUNBUFFERED="1")
json_path = None


def save(r):
    if json_path:
        with open(json_path, "a") as f:
            f.write(json.dumps(r) + "\n")


def record(workload, mode, rows, seconds, **extra):
    r = dict(workload=workload, mode=mode, rows=rows, seconds=round(seconds, 4), rows_per_s=rows / seconds, **extra)
    save(r)
    print(f"  {mode:<28} {r['rows_per_s']:>14,.0f} rows/s  ({seconds:.2f} s) {extra or ''}", flush=True)
    return r


def run(cmd, log):
    start = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=ENV, cwd=HERE)
    seconds = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n" + open(log).read()[-3000:])
    return seconds


def steady(log):
    """A peer script's rate once its first batch is out ("steady rows/s: R"
    in its log), beside its whole-process rate: on a short input a script's
    time is mostly its own start-up."""
    m = re.search(r"steady rows/s: ([\d.]+)", open(log).read())
    return dict(steady_rows_per_s=round(float(m.group(1)))) if m else {}


def timed_loop(fn, min_seconds=2.0):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        if n % 10 == 0:
            torch.cuda.synchronize()
            if time.perf_counter() - start > min_seconds:
                return n, time.perf_counter() - start


def ceiling(name, batch, compile_too):
    model = workloads.make_model(name).to("cuda", torch.bfloat16)
    x = torch.from_numpy(workloads.example(name, batch)).to("cuda")
    with torch.inference_mode():
        n, s = timed_loop(lambda: model(x))
    record(name, "ceiling eager bf16", n * batch, s, batch=batch)
    if compile_too:
        compiled = torch.compile(model, mode="reduce-overhead")
        start = time.perf_counter()
        with torch.inference_mode():
            for _ in range(3):
                compiled(x)
            torch.cuda.synchronize()
            build = time.perf_counter() - start
            n, s = timed_loop(lambda: compiled(x))
        record(name, "ceiling compiled bf16", n * batch, s, batch=batch, compile_s=round(build, 1))


def hdf5_read(name, path):
    start = time.perf_counter()
    with h5py.File(path, "r") as f:
        d = f[workloads.DATASET]
        rows, block = d.shape[0], max(1, (64 << 20) // d[0:1].nbytes)
        for i in range(0, rows, block):
            d[i:i + block]
    record(name, "hdf5_read (h5py)", rows, time.perf_counter() - start)


# ResNet-50 in mpsbatch: the bare network, with the scaling, normalisation and
# NHWC -> NCHW of the ImageNet wrapper done by the job's input keys on the
# device (the same arithmetic; uint8 crosses the bus).
IMAGE_INPUT = ", layout: nhwc, scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]"


def write_job(work, name, batch, device, precision, extra="", compiled=False, package_only=False):
    """The bench job: TorchScript (with model.pt2 as its alternative if
    `compiled`), or with `package_only` the AOTInductor package alone (for
    ResNet-50 the whole ImageNet module: the rows go in as stored)."""
    suffix = "-package" if package_only else ""
    path = os.path.join(work, f"job-{device}{suffix}.yaml")
    model, inputs = ("model-net.pt", IMAGE_INPUT) if name == "resnet50" else ("model.pt", "")
    if package_only:
        model, inputs = "model.pt2", ""
    elif compiled and name not in workloads.PACKAGE_TAKES_RAW_ROWS:
        model += ", compiled: model.pt2"
    with open(path, "w") as f:
        f.write(f"model: {{path: {model}}}\ndevice: {device}\nprecision: {precision}\nbatch_size: {batch}\n"
                "calibration_cache: off\n"
                f"input: {{path: input.h5, dataset: {workloads.DATASET}{inputs}}}\n"
                f"output: {{path: out-{device}{suffix}.h5, datasets: [y], overwrite: true}}\n{extra}")
    return path


def mpsbatch(args, name, rows, job, ranks, label, extra=()):
    log = os.path.join(args.work, f"mpsbatch-{label}-{ranks}.log")
    # --bind-to none: mpirun binds 1 or 2 processes to one core each by default,
    # where a rank's I/O and compute threads would share it (docs/performance.md).
    cmd = ["mpirun", "-n", str(ranks), "--oversubscribe", "--bind-to", "none", args.mpsbatch, job, *extra]
    seconds = run(cmd, log)
    text = open(log).read()
    m = re.search(r"scoring [\d.]+ s, ([\d.]+) rows/s", text)
    chosen = re.search(r"calibration: [\d.]+ s; (batch .*)", text)
    # On more than one rank the last part reads "the others' engines ready N s later".
    startup = re.search(r"start-up: ([\d.]+) s to plan \(rank 0's (?:inputs [\d.]+ s, )?engine ([\d.]+) s, "
                        r"probe ([\d.]+) s\), "
                        r"(?:the others' engines ready )?([\d.]+) s", text)
    calibration = re.search(r"calibration: ([\d.]+) s", text)
    # The whole run's time line: what the process did before RunJob, and after
    # it ("exit": MPI's end, tearing down CUDA, mpirun) as the rest of the wall time.
    line = re.search(r"time: (?:([\d.]+) s before the job.*?, )?plan ([\d.]+), engines ([\d.]+), "
                     r"calibration ([\d.]+), output ([\d.]+), scoring ([\d.]+), finishing ([\d.]+) s", text)
    timeline = {}
    if line:
        parts = ["before_s", "plan_s", "engines_s", "calibration_s", "output_s", "scoring_s", "finish_s"]
        timeline = {k: float(v) for k, v in zip(parts, line.groups()) if v is not None}
        timeline["exit_s"] = round(seconds - sum(timeline.values()), 2) if "before_s" in timeline else None
    return record(name, f"{label} {ranks} rank(s)", rows, seconds, ranks=ranks,
                  loop_rows_per_s=round(float(m.group(1))) if m else None,
                  plan_s=float(startup.group(1)) if startup else None,
                  engine0_s=float(startup.group(2)) if startup else None,
                  probe_s=float(startup.group(3)) if startup else None,
                  engines_s=float(startup.group(4)) if startup else None,
                  calibration_s=float(calibration.group(1)) if calibration else None,
                  rank0=chosen.group(1).strip()[:400] if chosen else None,
                  timeline=timeline or None)


def rel_error(a_path, b_path):
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        x, y = a["y"][...].astype(np.float64), b["y"][...].astype(np.float64)
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))


def threads_in_one_process(name, x, n):
    """n Python threads, one model, one intra-op thread each: the threads
    version of the CPU question."""
    model = workloads.make_model(name)
    torch.set_num_threads(1)
    parts = np.array_split(np.arange(len(x)), n)
    batch = 256

    def work(idx):
        with torch.inference_mode():
            for i in range(0, len(idx), batch):
                model(torch.from_numpy(x[idx[i:i + batch]]))

    threads = [threading.Thread(target=work, args=(p,)) for p in parts]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["mlp", "resnet50", "bert"])
    p.add_argument("--mpsbatch", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--ranks", default="1,2,4,8")
    p.add_argument("--peer-ranks", type=int, default=4)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--aoti", action="store_true",
                   help="also export an AOTInductor package: model.compiled for the MLP and BERT, "
                        "and a job with the package alone (for ResNet-50 it takes the raw rows)")
    p.add_argument("--paths", default="eager,frozen,cudagraph,auto",
                   help="forced paths timed at 1 rank, beside auto (empty: none)")
    p.add_argument("--no-peers", action="store_true",
                   help="skip the DataLoader and mpi4py scripts (for long inputs, where they take minutes)")
    p.add_argument("--prepare-only", action="store_true",
                   help="write the model, input and job (for ab.py), then stop")
    p.add_argument("--cpu-rows", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    args.mpsbatch = os.path.abspath(args.mpsbatch)
    global json_path
    json_path = args.json
    name = args.workload
    rows = args.rows or {"mlp": 2_000_000, "resnet50": 16384, "bert": 32768}[name]
    batch = args.batch or {"mlp": 8192, "resnet50": 256, "bert": 256}[name]
    os.makedirs(args.work, exist_ok=True)
    gpu = torch.cuda.is_available()
    print(f"{name}: {rows} rows, batch {batch}, {torch.cuda.get_device_name() if gpu else 'no GPU'}", flush=True)

    model = workloads.make_model(name)
    print(f"  {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters", flush=True)
    workloads.save_torchscript(name, model, os.path.join(args.work, "model.pt"), "cuda" if gpu else "cpu",
                               torch.bfloat16 if gpu else torch.float32)
    if name == "resnet50":
        torch.jit.script(model.net).save(os.path.join(args.work, "model-net.pt"))
    compiled = False  # an AOTInductor package was built (model.compiled)
    if gpu and args.aoti:
        start = time.perf_counter()
        try:
            workloads.save_aoti(name, model, os.path.join(args.work, "model.pt2"))
            print(f"  AOTInductor package built in {time.perf_counter() - start:.0f} s", flush=True)
            compiled = True
        except Exception as e:  # the rest of the run is still worth having
            print(f"  AOTInductor export failed after {time.perf_counter() - start:.0f} s: {e!r:.500}", flush=True)
    src = os.path.join(args.work, "input.h5")
    workloads.write_input(name, src, rows)
    if args.prepare_only:
        write_job(args.work, name, batch, "cuda" if gpu else "cpu", "bf16" if gpu else "fp32", compiled=compiled)
        if compiled:
            write_job(args.work, name, batch, "cuda", "bf16", package_only=True)
        return
    hdf5_read(name, src)

    if gpu:
        ceiling(name, batch, not args.no_compile)
        out1 = os.path.join(args.work, "peer1.h5")
        if not args.no_peers:
            s = run([sys.executable, "peer_dataloader.py", name, src, out1, str(batch)],
                    os.path.join(args.work, "peer1.log"))
            record(name, "peer 1: DataLoader script", rows, s, **steady(os.path.join(args.work, "peer1.log")))
            s = run(["mpirun", "-n", str(args.peer_ranks), "--oversubscribe", sys.executable, "peer_mpi.py", name,
                     src, os.path.join(args.work, "peer2.h5"), str(batch)], os.path.join(args.work, "peer2.log"))
            record(name, f"peer 2: mpi4py script x{args.peer_ranks}", rows, s,
                   **steady(os.path.join(args.work, "peer2.log")))
        job = write_job(args.work, name, batch, "cuda", "bf16", compiled=compiled)
        for n in [int(r) for r in args.ranks.split(",")]:
            mpsbatch(args, name, rows, job, n, "mpsbatch cuda")
        # Path selection: each forced path beside auto, one rank, same batch.
        aoti_alternative = compiled and name not in workloads.PACKAGE_TAKES_RAW_ROWS
        for path in filter(None, args.paths.split(",") + (["aoti"] if aoti_alternative else [])):
            mpsbatch(args, name, rows, job, 1, f"mpsbatch cuda path={path}", ["--set", f"path={path}"])
        if compiled:  # the torch.export route alone: no TorchScript to load, probe and time
            package_job = write_job(args.work, name, batch, "cuda", "bf16", package_only=True)
            for n in [int(r) for r in args.ranks.split(",")][:2]:
                mpsbatch(args, name, rows, package_job, n, "mpsbatch cuda package only")
        mpsbatch(args, name, rows, job, 1, "mpsbatch cuda batch=auto", ["--set", "batch_size=auto"])
        mpsbatch(args, name, rows, job, 1, "mpsbatch cuda read=hdf5", ["--set", "input.read=hdf5"])
        cache = ["--set", "calibration_cache=" + os.path.join(args.work, "calibration-cache")]
        shutil.rmtree(os.path.join(args.work, "calibration-cache"), ignore_errors=True)
        for n in [int(r) for r in args.ranks.split(",")][:2]:
            mpsbatch(args, name, rows, job, n, "mpsbatch cuda cache filled", cache)
            mpsbatch(args, name, rows, job, n, "mpsbatch cuda warm cache", cache)
        if name == "mlp":  # the launch-bound case: small batches, several ranks on one GPU
            for n in (1, 4):
                mpsbatch(args, name, rows, job, n, "mpsbatch cuda batch=64", ["--set", "batch_size=64"])
        if not args.no_peers:
            err = rel_error(os.path.join(args.work, "out-cuda.h5"), out1)
            print(f"  mpsbatch vs peer 1 (both bf16): relative error {err:.2e}", flush=True)
            save(dict(workload=name, mode="check", rel_error_vs_peer1=err))
            if compiled:
                err = rel_error(os.path.join(args.work, "out-cuda-package.h5"), out1)
                print(f"  mpsbatch with the package alone vs peer 1: relative error {err:.2e}", flush=True)
                save(dict(workload=name, mode="check package", rel_error_vs_peer1=err))

    if args.cpu_rows:
        cpu_src = os.path.join(args.work, "input.h5")
        if args.cpu_rows != rows:
            workloads.write_input(name, cpu_src, args.cpu_rows)
        job = write_job(args.work, name, 256, "cpu", "fp32", "threads: 1\n")
        x = h5py.File(cpu_src, "r")[workloads.DATASET][...]
        for n in [int(r) for r in args.ranks.split(",")]:
            mpsbatch(args, name, args.cpu_rows, job, n, "mpsbatch cpu")
            record(name, f"threads cpu {n} thread(s)", args.cpu_rows, threads_in_one_process(name, x, n), threads=n)



if __name__ == "__main__":
    main()
