#!/usr/bin/env python3
"""Why BERT's AOTInductor package runs slower than Python's eager model
(docs/performance.md, "BERT-base encoder"): exports the same BERT-base
encoder (random weights, bf16, batch 256 of 128 token ids) in several ways,
in parallel processes, then times each package and the eager model on
device-resident ids in one process, and prints the CUDA kernels that take the
most time in one batch of each.

Variants: `as_bench`, the model as transformers builds it
(`BertConfig(torchscript=True)`, which transformers 5 runs with PyTorch's
fused attention, SDPA), as bench.py exported it before; `no_mask`, the same
without the attention mask that transformers builds when it is given none
(all ones, [batch, 1, 128, 128]: in Python eager it checks the values and
drops it, which an exported graph cannot, and a mask rules out the fastest
attention kernels), as bench.py exports it now (workloads.drop_all_ones_mask);
and `no_mask_freeze`, with Inductor's freezing too.

Usage: bert_variants.py OUT_DIR [BATCH]     (on a GPU machine; writes OUT_DIR/<variant>.pt2)
BERT_VARIANTS_DEVICE=cpu checks the exports on a machine without one.
"""
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

SEQ = 128
DEVICE = os.environ.get("BERT_VARIANTS_DEVICE", "cuda")
VARIANTS = {
    # name: (no attention mask, Inductor's freezing)
    "as_bench": (False, False),  # what bench.py --aoti exported before it dropped the mask
    "no_mask": (True, False),  # what bench.py --aoti exports
    "no_mask_freeze": (True, True),
}


def build(no_mask):
    from transformers import BertConfig, BertModel
    if no_mask:
        workloads.drop_all_ones_mask()
    torch.manual_seed(0)
    config_kwargs = {"torchscript": True}
    config = BertConfig(**config_kwargs)
    model = workloads.Encoder(BertModel(config, add_pooling_layer=False)).eval()
    return model.to(DEVICE, torch.bfloat16), getattr(config, "_attn_implementation", "?")


def export(name, out):
    no_mask, freezing = VARIANTS[name]
    model, attn = build(no_mask)
    ids = torch.randint(0, 30522, (8, SEQ), device=DEVICE)
    batch = torch.export.Dim("batch", min=1, max=4096)
    start = time.perf_counter()
    with torch.no_grad():
        exported = torch.export.export(model, (ids,), dynamic_shapes=({0: batch},))
        ops = [f"{n.target}({len(n.args)} args)" for n in exported.graph.nodes
               if n.op == "call_function" and ("attention" in str(n.target) or "softmax" in str(n.target))][:1]
        torch._inductor.aoti_compile_and_package(exported, package_path=os.path.join(out, name + ".pt2"),
                                                 inductor_configs={"freezing": freezing})
    print(f"{name}: attention {attn}, exported and compiled in {time.perf_counter() - start:.0f} s; "
          f"first attention op of the graph: {ops} (4 args: with a mask)", flush=True)


def timed(fn, seconds=3.0):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            fn()
        torch.cuda.synchronize()
        n += 10
    return n, time.perf_counter() - start


def top_kernels(fn, label, k=6):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = [e for e in prof.key_averages() if e.device_time_total > 0]
    total = sum(e.self_device_time_total for e in events)
    events.sort(key=lambda e: e.self_device_time_total, reverse=True)
    print(f"  {label}: one batch {total / 1000:.2f} ms of kernels; the largest:")
    for e in events[:k]:
        print(f"    {e.self_device_time_total / 1000:7.2f} ms x{e.count:<4} {e.key[:110]}")


def main():
    out = sys.argv[1]
    if len(sys.argv) > 3 and sys.argv[3] == "--export":
        export(sys.argv[2], out)
        return
    if len(sys.argv) > 4 and sys.argv[3] == "--time":
        time_package(sys.argv[2], out, int(sys.argv[4]))
        return
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    os.makedirs(out, exist_ok=True)
    print(f"BERT-base encoder, batch {batch} x {SEQ} ids, bf16, {torch.cuda.get_device_name()}, "
          f"torch {torch.__version__}", flush=True)
    procs = [subprocess.Popen([sys.executable, __file__, out, name, "--export"]) for name in VARIANTS]
    ids = torch.randint(0, 30522, (batch, SEQ), device="cuda")
    with torch.inference_mode():
        for name, (no_mask, freezing) in VARIANTS.items():
            if freezing:
                continue  # changes nothing in eager
            model, attn = build(no_mask)
            n, s = timed(lambda: model(ids))
            print(f"python eager, {name} config (attention {attn}): {n * batch / s:,.0f} seq/s", flush=True)
            top_kernels(lambda: model(ids), f"eager {name}")
            del model
    failed = [name for name, p in zip(VARIANTS, procs) if p.wait() != 0]
    # Each package in a process of its own: one that crashes its process (a
    # segmentation fault was seen loading one beside the eager models) leaves
    # the others' figures.
    for name in VARIANTS:
        if name in failed:
            print(f"package {name}: export failed", flush=True)
            continue
        rc = subprocess.run([sys.executable, __file__, out, name, "--time", str(batch)]).returncode
        if rc != 0:
            print(f"package {name}: timing process ended with {rc}", flush=True)


def time_package(name, out, batch):
    ids = torch.randint(0, 30522, (batch, SEQ), device="cuda")
    runner = torch._inductor.aoti_load_package(os.path.join(out, name + ".pt2"))
    with torch.inference_mode():
        n, s = timed(lambda: runner(ids))
        print(f"package {name}: {n * batch / s:,.0f} seq/s", flush=True)
        top_kernels(lambda: runner(ids), f"package {name}")


if __name__ == "__main__":
    main()
