"""Writes the many-files benchmark's inputs (scripts/bench/shards.sh): the MLP
workload (workloads.py) as FILES shards of ROWS rows each, shards/part-NNNN.h5,
and the same rows in one file, whole.h5, chunked alike; plus the MLP as
TorchScript, mlp.pt, and a model that only slices its input (x[:, :10] * 2,
io_bound.sh's), slice.pt, for a loop bound by reading and writing rather than
computing. Files already there are kept.

Usage: shards.py WORK_DIR [FILES] [ROWS]   (defaults 512 and 4096)
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


class Slice(torch.nn.Module):
    def forward(self, x):
        return x[:, :10] * 2.0


def chunk_rows(rows):
    # As workloads.write_input: chunks of about 1 MiB of whole rows.
    row_bytes = workloads.example("mlp", 1).nbytes
    return max(1, min(rows, (1 << 20) // row_bytes))


def create(f, rows):
    first = workloads.example("mlp", 1)
    shape = (rows,) + first.shape[1:]
    return f.create_dataset(workloads.DATASET, shape, first.dtype,
                            chunks=(chunk_rows(rows),) + first.shape[1:])


def main():
    work = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    shards = os.path.join(work, "shards")
    os.makedirs(shards, exist_ok=True)
    whole_path = os.path.join(work, "whole.h5")
    model_path = os.path.join(work, "mlp.pt")
    if not os.path.exists(model_path):
        workloads.save_torchscript("mlp", workloads.make_model("mlp"), model_path)
    slice_path = os.path.join(work, "slice.pt")
    if not os.path.exists(slice_path):
        torch.jit.script(Slice()).save(slice_path)
    if os.path.exists(whole_path):
        with h5py.File(whole_path, "r") as f:
            if f[workloads.DATASET].shape[0] == files * rows:
                return
    tmp = whole_path + ".tmp"
    with h5py.File(tmp, "w") as whole:
        d = create(whole, files * rows)
        for i in range(files):
            block = workloads.example("mlp", rows, seed=i)  # shard i's rows
            d[i * rows:(i + 1) * rows] = block
            with h5py.File(os.path.join(shards, f"part-{i:04d}.h5"), "w") as shard:
                create(shard, rows)[...] = block
    os.replace(tmp, whole_path)
    # The shards must be the whole file cut in order.
    with h5py.File(whole_path, "r") as whole, h5py.File(os.path.join(shards, f"part-{files - 1:04d}.h5"), "r") as last:
        assert np.array_equal(whole[workloads.DATASET][(files - 1) * rows:], last[workloads.DATASET][...])
    print(f"wrote {files} shards of {rows} rows and whole.h5 ({files * rows} rows) under {work}")


if __name__ == "__main__":
    main()
