#!/usr/bin/env python3
"""Makes the demo's data and model from real data: scikit-learn's digits.

Writes, into the output folder (default jobs/data):
  digits.h5  images: uint8 [1797, 8, 8] (pixel values 0..16), labels: int64 [1797]
  digits.pt  a small MLP trained on the first 1200 digits, as TorchScript.
             It takes pixels scaled to 0..1 (the job's input.scale: 0.0625).
"""
import argparse
import os

import h5py
import numpy as np
import torch
from sklearn.datasets import load_digits


class DigitsMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "jobs", "data"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    digits = load_digits()
    images = digits.images.astype(np.uint8)  # values 0..16
    labels = digits.target.astype(np.int64)
    with h5py.File(os.path.join(args.out, "digits.h5"), "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=labels)

    torch.manual_seed(0)
    model = DigitsMLP()
    x = torch.from_numpy(images[:1200]).float() / 16.0
    y = torch.from_numpy(labels[:1200])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    model.eval()
    torch.jit.script(model).save(os.path.join(args.out, "digits.pt"))
    print(f"wrote {args.out}/digits.h5 ({len(labels)} digits) and digits.pt (train loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
