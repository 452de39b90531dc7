#!/usr/bin/env python3
"""Peer 1, the script a user writes today: h5py + a torch DataLoader with
workers, the model in bf16 on the GPU, results written to HDF5.

Usage: peer_dataloader.py WORKLOAD INPUT.h5 OUTPUT.h5 BATCH [WORKERS]
"""
import sys
import time

import h5py
import numpy as np
import torch

import workloads


class Rows(torch.utils.data.Dataset):
    """Batch i = rows [i * batch, (i + 1) * batch), read by a worker."""

    def __init__(self, path, batch):
        self.path, self.batch, self.file = path, batch, None
        with h5py.File(path, "r") as f:
            self.rows = f[workloads.DATASET].shape[0]

    def __len__(self):
        return (self.rows + self.batch - 1) // self.batch

    def __getitem__(self, i):
        if self.file is None:
            self.file = h5py.File(self.path, "r")
        return i, torch.from_numpy(self.file[workloads.DATASET][i * self.batch:(i + 1) * self.batch])


def main():
    name, src, dst, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    model = workloads.make_model(name).to("cuda", torch.bfloat16)
    data = Rows(src, batch)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=workers, pin_memory=True,
                                         prefetch_factor=4, persistent_workers=False)
    with h5py.File(dst, "w") as out, torch.inference_mode():
        d = None
        first = None  # the first batch written: time and rows; the steady rate counts from there
        for i, x in loader:
            y = model(x.to("cuda", non_blocking=True)).float().cpu().numpy()
            if d is None:
                d = out.create_dataset("y", (data.rows,) + y.shape[1:], np.float32)
            d[i * batch:i * batch + len(y)] = y
            if first is None:
                first = (time.perf_counter(), len(y))
        # What the loop does once started, without the process's start-up
        # (importing torch, CUDA, the workers, the first batch).
        if first is not None and data.rows > first[1]:
            print(f"steady rows/s: {(data.rows - first[1]) / (time.perf_counter() - first[0]):.1f}")


if __name__ == "__main__":
    main()
