#!/usr/bin/env python3
"""What a fresh process pays before its first fast batch, step by step, in
Python torch on the GPU (docs/performance.md, "Where a short job's time goes").

Each variant runs in its own process, so every step is its first:
  plain   CUDA context, load the TorchScript model, eager batch of 16 (what
          mpsbatch's probe is), eager batch of 256, freeze +
          optimize_for_inference, channels-last, frozen batch of 256, again
  warmed  the same after a tiny bf16 convolution and matmul (cuDNN and cuBLAS
          brought up before the model is loaded)

Usage: first_batch.py MODEL.pt [--runs 2]   (a ResNet-style model on NCHW
bf16 input, e.g. bench.py's model-net.pt)
"""
import argparse
import json
import subprocess
import sys
import time

STEPS = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
steps = {"import torch": time.perf_counter() - t0}
def step(name, fn):
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    steps[name] = time.perf_counter() - start
    return out
step("CUDA context", lambda: torch.zeros(1, device="cuda"))
if sys.argv[2] == "warmed":
    def tiny():
        x = torch.randn(1, 3, 8, 8, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(4, 3, 3, 3, device="cuda", dtype=torch.bfloat16)
        torch.nn.functional.conv2d(x, w)
        a = torch.randn(8, 8, device="cuda", dtype=torch.bfloat16)
        return a @ a
    step("tiny conv + matmul", tiny)
model = step("load model", lambda: torch.jit.load(sys.argv[1], map_location="cuda").to(torch.bfloat16).eval())
x16 = torch.randn(16, 3, 224, 224, device="cuda", dtype=torch.bfloat16)
x256 = torch.randn(256, 3, 224, 224, device="cuda", dtype=torch.bfloat16)
with torch.inference_mode():
    step("eager 16 (the probe)", lambda: model(x16))
    step("eager 16 again", lambda: model(x16))
    step("eager 256", lambda: model(x256))
    step("eager 256 again", lambda: model(x256))
frozen = step("freeze + optimize_for_inference",
              lambda: torch.jit.optimize_for_inference(torch.jit.freeze(model)))
xcl = x256.contiguous(memory_format=torch.channels_last)
with torch.inference_mode():
    for i in range(3):
        step(f"frozen channels-last 256 #{i + 1}", lambda: frozen(xcl))
print("STEPS " + json.dumps(steps))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    for variant in ("plain", "warmed"):
        for run in range(args.runs):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", STEPS, args.model, variant], capture_output=True, text=True)
            wall = time.perf_counter() - start
            if out.returncode != 0:
                sys.exit(out.stderr[-2000:])
            steps = json.loads(out.stdout.split("STEPS ", 1)[1])
            print(f"{variant} run {run + 1}: process {wall:.2f} s; " +
                  ", ".join(f"{k} {v:.3f}" for k, v in steps.items()), flush=True)


if __name__ == "__main__":
    main()
