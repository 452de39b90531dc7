#!/usr/bin/env python3
"""Exports a PyTorch model for mpsbatch: TorchScript (.pt) and/or an
AOTInductor package (.pt2), with a dynamic batch dimension.

The model comes from
  MODULE:FACTORY                        a callable returning the nn.Module
                                        (MODULE is an import path, or a .py file)
  --checkpoint FILE [--class MODULE:CLASS]
                                        a torch.save file: a state_dict (or a dict
                                        holding one under 'state_dict',
                                        'model_state_dict' or 'model'), loaded into
                                        CLASS() (a class or any callable returning
                                        the module); or a whole pickled module
                                        (--class then names its class if torch.load
                                        cannot import it, e.g. one defined in
                                        __main__ of a training script).

The example batch comes from
  --job JOB.yaml                        the job's input datasets: their first
                                        --rows rows, converted as mpsbatch converts
                                        them (input.dtype, scale, layout, mean,
                                        std, precision; docs/job-reference.md,
                                        "Input dtypes")
  --input NAME:SHAPE:DTYPE (repeated)   random rows, in forward() order, e.g.
                                        images:8x3x224x224:float32 (SHAPE includes
                                        the batch)

forward()'s argument names come from its signature (nn.Sequential's is
'input'). The example must hold at least 2 rows: torch.export fixes a batch
dimension of size 1. Each output is checked against the eager model on the
example and on one row fewer (a batch size the export did not see).

The file records what it was exported for (forward's argument names, the
datasets, each input's dtype and per-row shape, the precision and the job's
input.layout): a TorchScript file in its extra file "mpsbatch_export", a
package in its metadata (inductor config aot_inductor.metadata). mpsbatch
refuses a job that would feed the model something else.

Examples:
  mpsbatch-export my_models:build_classifier --job job.yaml -o model.pt
  mpsbatch-export --checkpoint ckpt.pt --class my_models:Classifier --job job.yaml -o model.pt -o model.pt2
  mpsbatch-export my_models:build_classifier --input x:8x64:float32 --precision bf16 -o model.pt2
"""
import argparse
import importlib
import importlib.util
import inspect
import os
import signal
import sys
import warnings

FORMAT = "1"
RECORD_FILE = "mpsbatch_export"
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
DTYPE_ALIASES = {
    "fp32": "float32", "f32": "float32", "float": "float32", "fp64": "float64", "f64": "float64",
    "double": "float64", "fp16": "float16", "f16": "float16", "half": "float16", "bf16": "bfloat16",
}


class ExportError(Exception):
    """A refusal: printed as one line, exit 1."""


class Stopped(BaseException):
    """SIGINT or SIGTERM: the export stops; exit 128 + the signal's number."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def stop(signum, _frame):
    raise Stopped(signum)


def load_callable(spec, what):
    """MODULE:NAME -> the object. MODULE is an import path (the current folder
    is on sys.path) or a path to a .py file."""
    if ":" not in spec:
        raise ExportError(f"{what} '{spec}': give MODULE:NAME, e.g. my_models:build_model")
    module_name, _, attr = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            name = os.path.splitext(os.path.basename(module_name))[0]
            loader = importlib.util.spec_from_file_location(name, module_name)
            if loader is None:
                raise ImportError(f"no such file {module_name}")
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            loader.loader.exec_module(module)
        else:
            sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except (ImportError, OSError) as e:
        raise ExportError(f"{what} '{spec}': cannot import {module_name}: {e}") from e
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ExportError(f"{what} '{spec}': {module_name} has no '{attr}'")
        obj = getattr(obj, part)
    return obj


def build_module(make, spec, what):
    import torch
    model = make() if callable(make) and not isinstance(make, torch.nn.Module) else make
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"{what} '{spec}' returned a {type(model).__name__}, not an nn.Module")
    return model


def state_dict_in(obj):
    """The state_dict in a torch.load result, or None."""
    import torch
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            if key in obj:
                found = state_dict_in(obj[key])
                if found is not None:
                    return found
    return None


def load_checkpoint(path, class_spec):
    import torch
    cls = load_callable(class_spec, "--class") if class_spec else None
    if cls is not None and isinstance(cls, type):
        # A module pickled from a training script names its class __main__.X.
        setattr(sys.modules["__main__"], cls.__name__, cls)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise ExportError(f"--checkpoint '{path}': file not found") from e
    except Exception:  # a pickled module: needs its class, not only tensors
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except (AttributeError, ModuleNotFoundError) as e:
            raise ExportError(f"--checkpoint '{path}' pickles a module whose class torch.load cannot find ({e}); "
                              "name it with --class MODULE:CLASS") from e
    if isinstance(obj, torch.nn.Module):
        return obj
    state = state_dict_in(obj)
    if state is None:
        keys = ", ".join(map(str, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__
        raise ExportError(f"--checkpoint '{path}' holds neither a module nor a state_dict (found: {keys})")
    if cls is None:
        raise ExportError(f"--checkpoint '{path}' holds a state_dict (weights only): name the model's class "
                          "with --class MODULE:CLASS (or a callable that builds it)")
    model = build_module(cls, class_spec, "--class")
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ExportError(f"--checkpoint '{path}' does not fit {class_spec}: {e}") from e
    return model


def forward_names(model, count):
    """forward()'s first `count` argument names."""
    params = [p for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(params) < count:
        raise ExportError(f"the model's forward takes {len(params)} tensor argument(s) "
                          f"({', '.join(p.name for p in params)}), and the example has {count} input(s)")
    return [p.name for p in params[:count]]


def dtype_name(name):
    import torch
    name = DTYPE_ALIASES.get(name, name)
    if not isinstance(getattr(torch, name, None), torch.dtype):
        raise ExportError(f"'{name}' is not a dtype")
    return name


def job_example(job_path, rows, precision):
    """The job's first `rows` rows as mpsbatch hands them to forward():
    (dataset names, tensors, precision, layout)."""
    import h5py
    import torch
    import yaml
    with open(job_path) as f:
        job = yaml.safe_load(f)
    inp = job.get("input") or {}
    folder = os.path.dirname(os.path.abspath(job_path))
    path = os.path.join(folder, inp["path"]) if "path" in inp else None
    names = inp.get("datasets", inp.get("dataset"))
    if path is None or names is None:
        raise ExportError(f"{job_path}: needs input.path and input.dataset(s)")
    names = [names] if isinstance(names, str) else list(names)
    precision = precision or job.get("precision", "fp32")
    layout = inp.get("layout", "nchw")
    scale, mean, std = inp.get("scale"), inp.get("mean"), inp.get("std")
    forced = dtype_name(inp["dtype"]) if "dtype" in inp else None
    normalises = scale is not None or mean is not None or std is not None
    tensors = []
    with h5py.File(path, "r") as f:
        for name in names:
            if name not in f:
                raise ExportError(f"{job_path}: {path} has no dataset '{name}'")
            d = f[name]
            if d.shape[0] < 2:
                raise ExportError(f"{path}: '{name}' has {d.shape[0]} row(s); the example needs at least 2")
            t = torch.from_numpy(d[:min(rows, d.shape[0])])
            # The steps of Preprocess::Prepare (src/infer/preprocess.cpp).
            if forced:
                target = getattr(torch, forced)
            elif t.is_floating_point() or normalises:
                target = getattr(torch, PRECISIONS[precision])
            else:
                target = t.dtype
            t = t.to(target)
            if scale is not None:
                t = t * scale
            if layout == "nhwc" and t.dim() == 4:
                t = t.permute(0, 3, 1, 2)
            for values, op in ((mean, torch.sub), (std, torch.div)):
                if values is None:
                    continue
                values = values if isinstance(values, list) else [values]
                shape = [1] * t.dim()
                if t.dim() > 1:
                    shape[1] = len(values)
                t = op(t, torch.tensor(values, dtype=torch.float64).to(t.dtype).view(shape))
            tensors.append(t.contiguous())
    return names, tensors, precision, layout


def given_example(specs, precision):
    import torch
    names, tensors = [], []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ExportError(f"--input '{spec}': give NAME:SHAPE:DTYPE, e.g. x:8x64:float32")
        name, shape_text, dtype = parts
        try:
            shape = [int(d) for d in shape_text.replace(",", "x").split("x")]
        except ValueError as e:
            raise ExportError(f"--input '{spec}': SHAPE is sizes joined by x, batch first, e.g. 8x64") from e
        dtype = getattr(torch, dtype_name(dtype))
        gen = torch.Generator().manual_seed(len(tensors))
        if dtype.is_floating_point:
            t = torch.randn(shape, generator=gen).to(dtype)
        elif dtype == torch.bool:
            t = torch.zeros(shape, dtype=dtype)
        else:
            t = torch.randint(0, 2, shape, generator=gen, dtype=dtype)
        names.append(name)
        tensors.append(t)
    return names, tensors, precision or "fp32", ""


def record_of(inputs, datasets, example, precision, layout, device):
    return {
        "mpsbatch.format": FORMAT,
        "mpsbatch.inputs": ";".join(inputs),
        "mpsbatch.datasets": ";".join(datasets),
        "mpsbatch.dtypes": ";".join(str(t.dtype).replace("torch.", "") for t in example),
        "mpsbatch.row_shapes": ";".join("x".join(str(d) for d in t.shape[1:]) for t in example),
        "mpsbatch.precision": precision,
        "mpsbatch.layout": layout,
        "mpsbatch.device": device,
    }


def outputs_of(result):
    import torch
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (tuple, list)) and all(isinstance(r, torch.Tensor) for r in result):
        return list(result)
    raise ExportError(f"forward returned a {type(result).__name__}; mpsbatch takes a tensor, or a tuple or list "
                      "of tensors")


def eager_cases(model, example):
    """The batches every export is checked on, the example and one row fewer,
    with the eager model's outputs: [(rows, args, outputs)]."""
    import torch
    cases = []
    for rows in (example[0].shape[0], example[0].shape[0] - 1):
        args = [t[:rows] for t in example]
        with torch.inference_mode():
            cases.append((rows, args, outputs_of(model(*args))))
    return cases


def check_outputs(path, rows, want, got):
    import torch
    if len(want) != len(got):
        raise ExportError(f"{path}: returns {len(got)} output(s), the model {len(want)}")
    for i, (w, g) in enumerate(zip(want, got)):
        tol = 1e-4 if w.dtype in (torch.float32, torch.float64) else 2e-2
        if w.shape != g.shape or not torch.allclose(g.float(), w.float(), atol=tol, rtol=tol):
            raise ExportError(f"{path}: output {i} differs from the eager model's on a batch of {rows} rows "
                              f"(shape {tuple(g.shape)} vs {tuple(w.shape)}); the export did not keep the "
                              "model's behaviour (a size fixed at export time?)")


def check_against_eager(run, model, example, path):
    """The exported model's outputs on the example and on one row fewer equal
    the eager model's."""
    import torch
    for rows, args, want in eager_cases(model, example):
        with torch.inference_mode():
            got = outputs_of(run(*args))
        check_outputs(path, rows, want, got)


# Loads a package and runs it on the cases' inputs: argv package, cases file,
# device, outputs file. An error exits 1 with its message, not a traceback.
PACKAGE_RUNNER = """
import sys
import torch
package, cases, device, out = sys.argv[1:]
try:
    runner = torch._inductor.aoti_load_package(package)
    outputs = []
    with torch.inference_mode():
        for args in torch.load(cases):
            result = runner(*[a.to(device) for a in args])
            result = [result] if isinstance(result, torch.Tensor) else list(result)
            outputs.append([r.cpu() for r in result])
    torch.save(outputs, out)
except Exception as e:
    sys.exit(f"{type(e).__name__}: {e}")
"""


def check_package(file, path, model, example):
    """The package `file` (to become `path`), loaded and run in a process of
    its own (as mpsbatch loads it), computes what the eager model computes. In
    the process that compiled it, AOTInductor's loader crashed with a
    segmentation fault on CUDA (torch 2.11, a small nn.Sequential)."""
    import subprocess
    import tempfile
    import torch
    cases = eager_cases(model, example)
    with tempfile.TemporaryDirectory(prefix="mpsbatch-export-") as tmp:
        inputs, outputs = os.path.join(tmp, "cases.pt"), os.path.join(tmp, "outputs.pt")
        torch.save([[a.cpu() for a in args] for _, args, _ in cases], inputs)
        # A signal to this process ends the child too (subprocess.run kills it).
        run = subprocess.run([sys.executable, "-c", PACKAGE_RUNNER, file, inputs, str(example[0].device), outputs],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            how = f"signal {-run.returncode}" if run.returncode < 0 else f"exit code {run.returncode}"
            tail = "; ".join(line for line in run.stdout.strip().splitlines()[-3:])
            raise ExportError(f"{path}: the package was compiled, but loading and running it failed ({how}); "
                              f"not written. Its loader said: {tail or '(nothing)'}")
        got = torch.load(outputs)
    for (rows, _, want), g in zip(cases, got):
        check_outputs(path, rows, [w.cpu() for w in want], g)


def write_beside(path, write):
    """write(file) exports and checks the model into `file`, in a new folder
    beside `path`, which then moves to `path`. An export that fails, differs
    from the eager model or is stopped leaves `path` as it was (a model there
    before is kept) and nothing beside it. A symbolic link at `path` is
    written through, as a plain write would."""
    import shutil
    import tempfile
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    if os.path.isdir(path):
        raise ExportError(f"-o '{path}' is a folder; give a file name ending in .pt or .pt2")
    try:
        tmp = tempfile.mkdtemp(prefix=".mpsbatch-export-", dir=folder)
    except OSError as e:
        raise ExportError(f"-o '{path}': cannot write in {folder}: {e.strerror}") from e
    try:
        file = os.path.join(tmp, os.path.basename(path))
        how = write(file)
        try:
            os.replace(file, target)
        except OSError as e:
            raise ExportError(f"-o '{path}': cannot replace it: {e.strerror}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return how


def export_torchscript(model, example, record, file, path):
    import torch
    try:
        exported, how = torch.jit.script(model), "torch.jit.script"
    except Exception as script_error:  # many models script; the rest trace
        try:
            with torch.inference_mode(False), torch.no_grad():
                exported, how = torch.jit.trace(model, tuple(example), check_trace=False), "torch.jit.trace"
        except Exception as e:
            raise ExportError(f"{path}: neither torch.jit.script ({str(script_error).splitlines()[0]}) nor "
                              f"torch.jit.trace ({str(e).splitlines()[0]}) can export the model; try a .pt2") from e
    text = "".join(f"{k}: {v}\n" for k, v in record.items())
    torch.jit.save(exported, file, _extra_files={RECORD_FILE: text})
    check_against_eager(torch.jit.load(file, map_location=example[0].device), model, example, path)
    return how


def export_package(model, example, names, record, file, path):
    import torch
    batch = torch.export.Dim("batch")
    dynamic = {name: {0: batch} for name in names}
    try:
        program = torch.export.export(model, tuple(example), dynamic_shapes=dynamic)
    except Exception as e:
        raise ExportError(f"{path}: torch.export cannot export the model with a dynamic batch: "
                          f"{str(e).splitlines()[0]}") from e
    torch._inductor.aoti_compile_and_package(program, package_path=file,
                                             inductor_configs={"aot_inductor.metadata": record})
    check_package(file, path, model, example)
    return "torch.export + AOTInductor"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="mpsbatch-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("factory", nargs="?", help="MODULE:FACTORY, a callable returning the nn.Module")
    p.add_argument("--checkpoint", help="a torch.save file: a state_dict (with --class) or a whole module")
    p.add_argument("--class", dest="cls", help="MODULE:CLASS (or a callable) that builds the model")
    p.add_argument("--job", help="a job file: the example is its input rows, converted as mpsbatch converts them")
    p.add_argument("--input", action="append", default=[], help="NAME:SHAPE:DTYPE, one per forward() argument")
    p.add_argument("--rows", type=int, default=8, help="rows of the job's input in the example (default 8)")
    p.add_argument("--precision", choices=sorted(PRECISIONS), help="default: the job's, else fp32")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the model runs (default cpu)")
    p.add_argument("-o", "--output", action="append", required=True,
                   help="model file to write: .pt (TorchScript) or .pt2 (AOTInductor); may be repeated")
    args = p.parse_args(argv)
    if bool(args.factory) == bool(args.checkpoint):
        p.error("give either MODULE:FACTORY or --checkpoint FILE")
    if args.cls and not args.checkpoint:
        p.error("--class goes with --checkpoint")
    if bool(args.job) == bool(args.input):
        p.error("give either --job JOB.yaml or --input NAME:SHAPE:DTYPE")
    return args


def export(args):
    import torch
    if args.job:
        if args.rows < 2:
            raise ExportError(f"--rows {args.rows}: an example of 1 row makes torch.export fix the batch "
                              "dimension at 1; give 2 or more")
        datasets, example, precision, layout = job_example(args.job, args.rows, args.precision)
    else:
        datasets, example, precision, layout = given_example(args.input, args.precision)
    for name, t in zip(datasets, example):
        if t.dim() == 0 or t.shape[0] < 2:
            raise ExportError(f"input '{name}': an example batch of {t.shape[0] if t.dim() else 0} row(s) makes "
                              "torch.export fix the batch dimension at that size; give 2 or more rows "
                              f"(e.g. {name}:2x...)")
    if len({t.shape[0] for t in example}) != 1:
        raise ExportError("the example inputs have different row counts: " +
                          ", ".join(f"{n} {t.shape[0]}" for n, t in zip(datasets, example)))
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint, args.cls)
    else:
        model = build_module(load_callable(args.factory, "MODULE:FACTORY"), args.factory, "MODULE:FACTORY")
    dtype = getattr(torch, PRECISIONS[precision])
    model = model.eval().to(device=args.device, dtype=dtype)
    example = [t.to(args.device) for t in example]
    names = forward_names(model, len(example))
    record = record_of(names, datasets, example, precision, layout, args.device)
    shapes = ", ".join(f"{n} {str(t.dtype).replace('torch.', '')} {list(t.shape[1:])}" for n, t in zip(names, example))
    for path in args.output:
        if path.endswith(".pt2"):
            how = write_beside(path, lambda file: export_package(model, example, names, record, file, path))
        else:
            how = write_beside(path, lambda file: export_torchscript(model, example, record, file, path))
        print(f"mpsbatch-export: wrote {path} ({how}; forward({shapes}) per row, batch dynamic, {precision}, "
              f"{args.device})")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # torch.export's own deprecation notice, about its internals.
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec.*")
    # Stopped, the export removes what it had not finished (write_beside).
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        export(args)
    except ExportError as e:
        print(f"mpsbatch-export: {e}", file=sys.stderr)
        return 1
    except (Stopped, KeyboardInterrupt) as e:
        signum = e.signum if isinstance(e, Stopped) else signal.SIGINT
        print(f"mpsbatch-export: stopped by {signal.Signals(signum).name}; an output not reported as written was "
              "left as it was", file=sys.stderr)
        return 128 + signum
    return 0


if __name__ == "__main__":
    sys.exit(main())
