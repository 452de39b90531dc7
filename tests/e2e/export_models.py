#!/usr/bin/env python3
"""Models, data and references for the export helper's end-to-end tests
(e2e_export_test.cpp), importable as `export_models`.

  export_models.py make DIR   writes into DIR:
    data.h5           images: uint8 [37, 8, 8] (0..16); features: float32 [37, 6]; mask: int64 [37, 6]
    seq_state.pt      torch.save(sequential().state_dict())
    two_whole.pt      torch.save(two_inputs()): a whole pickled module
    legacy.pt         torch.save(sequential().state_dict()) in the legacy non-zip format
    reference.h5      the eager models' outputs on every row, as mpsbatch's jobs convert them:
                      seq_logits (images * 0.0625 as float32), two_score and two_count
"""
import os
import sys

import h5py
import numpy as np
import torch

ROWS = 37  # not a multiple of the jobs' batch size: a short last batch


def sequential():
    """An nn.Sequential: forward's argument is named `input`."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


class TwoInputs(torch.nn.Module):
    """Two named inputs (float features, int64 mask) and two outputs."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 4)

    def forward(self, features, mask):
        kept = features * mask.to(features.dtype)
        return self.proj(kept), mask.sum(dim=1)


def two_inputs():
    torch.manual_seed(1)
    return TwoInputs()


class Noisy(torch.nn.Module):
    """Adds noise: no export computes what the eager model did."""

    def forward(self, x):
        return x + torch.rand_like(x)


def noisy():
    return Noisy()


def make(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    images = rng.integers(0, 17, size=(ROWS, 8, 8), dtype=np.uint8)
    features = rng.standard_normal((ROWS, 6), dtype=np.float32)
    mask = rng.integers(0, 2, size=(ROWS, 6), dtype=np.int64)
    with h5py.File(os.path.join(out, "data.h5"), "w") as f:
        f["images"], f["features"], f["mask"] = images, features, mask
    torch.save(sequential().state_dict(), os.path.join(out, "seq_state.pt"))
    torch.save(two_inputs(), os.path.join(out, "two_whole.pt"))
    torch.save(sequential().state_dict(), os.path.join(out, "legacy.pt"), _use_new_zipfile_serialization=False)
    with torch.inference_mode():
        logits = sequential().eval()(torch.from_numpy(images).float() * 0.0625)
        score, count = two_inputs().eval()(torch.from_numpy(features), torch.from_numpy(mask))
    with h5py.File(os.path.join(out, "reference.h5"), "w") as f:
        f["seq_logits"], f["two_score"], f["two_count"] = logits.numpy(), score.numpy(), count.numpy()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "make":
        sys.exit(__doc__)
    make(sys.argv[2])
