#!/usr/bin/env python3
"""Peer 2, the HPC user's script: mpi4py + h5py + torch. Each of N processes
reads its contiguous slice, scores it in bf16 on the GPU, and rank 0 gathers
the results and writes them to HDF5.

Usage: mpirun -n N python peer_mpi.py WORKLOAD INPUT.h5 OUTPUT.h5 BATCH
"""
import sys

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
        with torch.inference_mode():
            for i in range(begin, end, batch):
                x = torch.from_numpy(d[i:min(end, i + batch)]).to("cuda")
                parts.append(model(x).float().cpu().numpy())
    mine = np.concatenate(parts) if parts else None
    gathered = comm.gather(mine, root=0)
    if rank == 0:
        with h5py.File(dst, "w") as out:
            out["y"] = np.concatenate([g for g in gathered if g is not None])


if __name__ == "__main__":
    main()
