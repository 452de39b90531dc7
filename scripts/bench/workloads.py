"""The benchmark workloads: models (as nn.Modules and TorchScript files) and
their HDF5 inputs. Shared by bench.py and the peer scripts.

  mlp       a ~2.1M-parameter MLP on float32 [N, 256] rows (launch- and I/O-bound)
  resnet50  torchvision ResNet-50 on uint8 [N, 224, 224, 3] images, normalised inside
  bert      a BERT-base-sized encoder (transformers, random weights) on int64 [N, 128] ids
"""
import copy

import h5py
import numpy as np
import torch

DATASET = "x"


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(256, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 768),
                                       torch.nn.ReLU(), torch.nn.Linear(768, 10))

    def forward(self, x):
        return self.net(x.to(self.net[0].weight.dtype))


class ImageNet(torch.nn.Module):
    """uint8 NHWC images -> logits; scaling and normalisation inside the model."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).to(self.mean.dtype)
        return self.net((x - self.mean) / self.std)


class Encoder(torch.nn.Module):
    """int64 token ids -> the first token's last hidden state."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, ids):
        return self.bert(input_ids=ids)[0][:, 0]


def make_model(name):
    torch.manual_seed(0)
    if name == "mlp":
        return Mlp().eval()
    if name == "resnet50":
        import torchvision
        return ImageNet(torchvision.models.resnet50()).eval()
    if name == "bert":
        from transformers import BertConfig, BertModel
        config = BertConfig(torchscript=True)  # bert-base sizes, random weights, no download
        return Encoder(BertModel(config, add_pooling_layer=False)).eval()
    raise ValueError(name)


def example(name, rows, seed=0):
    rng = np.random.default_rng(seed)
    if name == "mlp":
        return rng.standard_normal((rows, 256), dtype=np.float32)
    if name == "resnet50":
        return rng.integers(0, 256, (rows, 224, 224, 3), dtype=np.uint8)
    if name == "bert":
        return rng.integers(0, 30522, (rows, 128), dtype=np.int64)
    raise ValueError(name)


def write_input(name, path, rows, block=8192):
    """Writes `rows` rows in blocks (bounded memory), chunked by rows."""
    first = example(name, 1)
    with h5py.File(path, "w") as f:
        row_bytes = first.nbytes
        chunk = max(1, min(rows, (1 << 20) // row_bytes))
        d = f.create_dataset(DATASET, (rows,) + first.shape[1:], first.dtype, chunks=(chunk,) + first.shape[1:])
        for i in range(0, rows, block):
            n = min(block, rows - i)
            d[i:i + n] = example(name, n, seed=i)


def save_torchscript(name, model, path, device="cpu", dtype=torch.float32):
    """BERT is traced, on `device` and in `dtype`: tracing bakes the device and
    dtype of tensors the model creates (token type ids, the attention mask's
    fill value) into the graph, so trace as it will run. (Traced in float32 and
    run in bf16, the mask stays float32 and drags attention into float32.)"""
    with torch.no_grad():
        if name == "bert":
            model = copy.deepcopy(model).to(device, dtype)  # the caller's stays as it was
            scripted = torch.jit.trace(model, (torch.from_numpy(example(name, 2)).to(device),), strict=False)
        else:
            scripted = torch.jit.script(model)
    scripted.save(path)


# Workloads whose AOTInductor package takes the stored rows as they are (its
# own preprocessing inside), so that it runs alone and is no alternative
# (model.compiled) to the TorchScript model, which the job preprocesses for.
PACKAGE_TAKES_RAW_ROWS = {"resnet50"}


def drop_all_ones_mask():
    """Makes transformers' BERT build no attention mask when given none.

    Given token ids alone, transformers 5 builds an all-ones mask; eager
    Python checks its values and drops it, but an exported graph keeps it, and
    a mask rules out the flash attention kernels: BERT-base's package ran at
    12.7k seq/s with it and 19.2k without in mpsbatch on an H200
    (docs/performance.md). Only for rows without padding. Patches the module
    for the rest of the process."""
    import transformers.models.bert.modeling_bert as bert
    if not hasattr(bert, "create_bidirectional_mask"):
        raise RuntimeError("this transformers builds BERT's mask otherwise; dropping it needs another patch")
    original = bert.create_bidirectional_mask
    if getattr(original, "drops_all_ones", False):
        return

    def create(*args, **kwargs):
        if kwargs.get("attention_mask") is None and kwargs.get("encoder_hidden_states") is None:
            return None
        return original(*args, **kwargs)

    create.drops_all_ones = True
    bert.create_bidirectional_mask = create


def save_aoti(name, model, path, device="cuda", dtype=torch.bfloat16, max_batch=16384):
    """An AOTInductor package of `model` with a dynamic batch dimension.

    ResNet-50: pass the whole ImageNet module. The package takes the stored
    rows as they are (uint8 NHWC) and normalises inside, so a job runs it
    with no input.layout/scale/mean/std, as `model.path` alone. Exported with
    Inductor's freezing (weights become constants: batch norm folds into the
    convolutions, and the NHWC input lets it run them channels-last), it ran
    at 25.0k img/s in mpsbatch's calibration on an H200, against 16.0k for
    the bare network exported from NCHW floats without freezing and 21.9k for
    TorchScript's best path (docs/performance.md, runs D). Its input
    is contiguous, as mpsbatch hands it: a package may read its input with
    the strides of its example (aoti_strides.py).

    BERT: exported without transformers' all-ones attention mask
    (drop_all_ones_mask; the benchmark's ids have no padding).

    Others: the package is the TorchScript model's alternative
    (model.compiled), taking the same inputs."""
    if name == "bert":
        drop_all_ones_mask()
    model = copy.deepcopy(model).to(device, dtype).eval()  # the caller's stays as it was
    configs = {}
    if name == "mlp":
        example = torch.randn(8, 256, device=device, dtype=dtype)
    elif name == "resnet50":
        example = torch.from_numpy(globals()["example"](name, 8)).to(device)
        configs = {"freezing": True}
    else:
        example = torch.from_numpy(globals()["example"](name, 8)).to(device)
    batch = torch.export.Dim("batch", min=1, max=max_batch)
    with torch.no_grad():
        exported = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
        torch._inductor.aoti_compile_and_package(exported, package_path=path, inductor_configs=configs)
