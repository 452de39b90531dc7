#!/usr/bin/env python3
"""Does an AOTInductor package read its input with the strides it was
exported with? Exports a small conv net twice (from a contiguous and from a
channels-last example, dynamic batch, freezing) and feeds each package both
layouts, against eager (docs/performance.md, runs D: a package can
return wrong numbers for the other layout, which is why mpsbatch's docs say
to export from a contiguous example). CPU; a minute or so.

Usage: aoti_strides.py [OUT_DIR]
"""
import os
import sys

import torch


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mpsbatch-aoti-strides"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 4, 3)).eval()
    example = torch.randn(2, 3, 16, 16)
    x = torch.randn(5, 3, 16, 16)
    layouts = {"contiguous": lambda t: t.contiguous(),
               "channels-last": lambda t: t.contiguous(memory_format=torch.channels_last)}
    with torch.no_grad():
        reference = model(x)
        for exported_from, to_layout in layouts.items():
            batch = torch.export.Dim("batch", min=1, max=64)
            program = torch.export.export(model, (to_layout(example),), dynamic_shapes=({0: batch},))
            path = os.path.join(out, exported_from + ".pt2")
            torch._inductor.aoti_compile_and_package(program, package_path=path, inductor_configs={"freezing": True})
            package = torch._inductor.aoti_load_package(path)
            for fed, layout in layouts.items():
                err = (package(layout(x)) - reference).abs().max().item()
                print(f"exported from {exported_from:13s} fed {fed:13s} max error {err:.3g}")


if __name__ == "__main__":
    main()
