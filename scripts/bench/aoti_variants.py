#!/usr/bin/env python3
"""Exports ResNet-50 as AOTInductor packages in several ways, in parallel
processes, for aoti_variants.sh to time in mpsbatch (docs/performance.md,
runs D). Each variant: which module, the example's memory layout,
a dynamic or a fixed batch, Inductor's freezing.

Usage: aoti_variants.py OUT_DIR            (writes OUT_DIR/<variant>.pt2)
"""
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

VARIANTS = {
    # name: (whole ImageNet module taking uint8 NHWC, channels-last example, dynamic batch, freezing)
    "nchw_dyn": (False, False, True, False),  # what bench.py --aoti exported before
    "nchw_dyn_freeze": (False, False, True, True),
    "cl_dyn_freeze": (False, True, True, True),
    "cl_256_freeze": (False, True, False, True),
    "wrap_dyn_freeze": (True, False, True, True),  # what bench.py --aoti exports now
}


def export(name, out):
    wrapper, channels_last, dynamic, freezing = VARIANTS[name]
    model = workloads.make_model("resnet50")
    model = (model if wrapper else model.net).to("cuda", torch.bfloat16).eval()
    if wrapper:
        example = torch.from_numpy(workloads.example("resnet50", 8)).to("cuda")
    else:
        example = torch.randn(8, 3, 224, 224, device="cuda", dtype=torch.bfloat16)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    if not dynamic:
        example = example.repeat(32, 1, 1, 1)  # batch 256, the bench's
    shapes = ({0: torch.export.Dim("batch", min=1, max=16384)},) if dynamic else None
    start = time.time()
    with torch.no_grad():
        exported = torch.export.export(model, (example,), dynamic_shapes=shapes)
        torch._inductor.aoti_compile_and_package(exported, package_path=os.path.join(out, name + ".pt2"),
                                                 inductor_configs={"freezing": freezing})
    print(json.dumps({"export": name, "seconds": round(time.time() - start, 1)}), flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        return export(sys.argv[2], sys.argv[3])
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, TORCHINDUCTOR_COMPILE_THREADS="4")
    procs = {n: subprocess.Popen([sys.executable, __file__, "--one", n, out], env=env) for n in VARIANTS}
    failed = [n for n, p in procs.items() if p.wait() != 0]
    if failed:
        sys.exit(f"export failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
