"""The slow CPU model of the CPU benchmarks (cpu_slow_model.sh, cpu_paths.sh):
a small TorchScript conv net with batch norm on 3x32x32 float32 rows, a few
hundred rows/s per rank at one thread, ROWS random rows in input.h5, and
job.yaml: batch 64, path auto, one intra-op thread, no calibration cache.
Usage: python conv_workload.py WORK_DIR ROWS   (keeps an input of that size)
"""
import os, sys
import h5py, numpy as np, torch
work, rows = sys.argv[1], int(sys.argv[2])

class Net(torch.nn.Module):
    def __init__(self, c=32):
        super().__init__()
        conv = lambda i, o: [torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o), torch.nn.ReLU()]
        self.body = torch.nn.Sequential(*conv(3, c), *conv(c, c), torch.nn.MaxPool2d(2), *conv(c, 2 * c),
                                        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(2 * c, 10))

    def forward(self, x):
        return self.body(x)

path = os.path.join(work, "input.h5")
if not os.path.exists(path) or h5py.File(path, "r")["x"].shape[0] != rows:
    with h5py.File(path, "w") as f:
        f["x"] = np.random.default_rng(0).standard_normal((rows, 3, 32, 32), dtype=np.float32)
torch.manual_seed(0)
torch.jit.trace(Net().eval(), torch.zeros(2, 3, 32, 32)).save(os.path.join(work, "model.pt"))

with open(os.path.join(work, "job.yaml"), "w") as f:
    f.write("""model: {path: model.pt}
device: cpu
threads: 1
batch_size: 64
path: auto
calibration_cache: off
progress: off
input: {path: input.h5, dataset: x}
output: {path: out.h5, datasets: [y], overwrite: true}
""")
