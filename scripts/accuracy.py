#!/usr/bin/env python3
"""Reads mpsbatch's output for the demo job and prints its accuracy against the labels."""
import sys

import h5py
import numpy as np


def main():
    scores_path, digits_path = sys.argv[1], sys.argv[2]
    with h5py.File(scores_path, "r") as f:
        logits = f["logits"][...]
        ranks, devices = f.attrs["ranks"], f.attrs["devices"]
    with h5py.File(digits_path, "r") as f:
        labels = f["labels"][...]
    if logits.shape[0] != labels.shape[0]:
        sys.exit(f"{scores_path}: {logits.shape[0]} rows of logits for {labels.shape[0]} labels")
    correct = logits.argmax(axis=1) == labels
    print(f"{scores_path}: {len(labels)} rows scored on {ranks} rank(s) ({devices})")
    print(f"accuracy: {correct.mean():.4f} overall, {correct[1200:].mean():.4f} on the {len(labels) - 1200} "
          f"digits held out from training")


if __name__ == "__main__":
    main()
