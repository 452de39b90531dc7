#!/usr/bin/env python3
"""Peer 2, the HPC user's script: mpi4py + h5py + torch. Each of N processes
reads its contiguous slice, scores it in bf16 on the GPU, and rank 0 gathers
the results and writes them to HDF5.

Usage: mpirun -n N python peer_mpi.py WORKLOAD INPUT.h5 OUTPUT.h5 BATCH
"""
import sys
import time

import h5py
import numpy as np
import torch
from mpi4py import MPI

import workloads


def main():
    name, src, dst, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    model = workloads.make_model(name).to("cuda", torch.bfloat16)
    with h5py.File(src, "r") as f:
        d = f[workloads.DATASET]
        rows = d.shape[0]
        begin, end = rows * rank // size, rows * (rank + 1) // size
        parts = []
        first = None  # after this rank's first batch: time and rows
        with torch.inference_mode():
            for i in range(begin, end, batch):
                x = torch.from_numpy(d[i:min(end, i + batch)]).to("cuda")
                parts.append(model(x).float().cpu().numpy())
                if first is None:
                    first = (time.perf_counter(), len(parts[0]))
    mine = np.concatenate(parts) if parts else None
    gathered = comm.gather(mine, root=0)
    # The steady rate: every rank's rows after its first batch, over the time
    # from the first rank's first batch to the output written (the process's
    # start-up left out).
    starts = comm.gather(first, root=0)
    if rank == 0:
        with h5py.File(dst, "w") as out:
            out["y"] = np.concatenate([g for g in gathered if g is not None])
        starts = [s for s in starts if s is not None]
        steady_rows = rows - sum(n for _, n in starts)
        if starts and steady_rows > 0:
            print(f"steady rows/s: {steady_rows / (time.perf_counter() - min(t for t, _ in starts)):.1f}")


if __name__ == "__main__":
    main()
