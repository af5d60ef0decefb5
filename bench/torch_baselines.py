"""Torch baselines for `npm run bench`: each job done the fastest reasonable way with torch alone.

    python3 torch_baselines.py version
        One JSON line: torch.__version__, the threads torch computes with, the python's version, and the BLAS torch's
        matrix products run on (`MKL (built in)`, else the library's path; `referenceBlas` when it is the unblocked
        one-thread reference BLAS, Debian's libblas3).
    python3 torch_baselines.py compute f32|same BASE INSTRUCT OUT
        R = instruct - base into OUT: an f32 residual (`f32`, exact for bf16/f16 models, what the CLI's default
        `--dtype auto` writes for them) or one in the instruct tensor's dtype (`same`, `--dtype same`).
    python3 torch_baselines.py apply BASE RESIDUAL OUT [ALPHA]
        M = BASE + ALPHA * R (default 1) into OUT, in the base tensor's dtype.
    python3 torch_baselines.py verify BASE RESIDUAL INSTRUCT
        Counts the elements where BASE + R differs from INSTRUCT, bit for bit; exits 1 when any does.
    python3 torch_baselines.py residuals-package BASE INSTRUCT OUT
        Not a fastest way: the formulation of the Python `residuals` package (Residuals.from_models, then
        save_pretrained): both models as fp32 state dicts, a dict of fp32 deltas, then one fp32 file. Without the
        package's transformers model construction, so a lower bound on its time.
    python3 torch_baselines.py lora RANK BASE INSTRUCT OUT [OVERSAMPLING NITER]
        The residual as a PEFT LoRA adapter in folder OUT (adapter_model.safetensors and adapter_config.json, scaling
        1): per 2-D float tensor the f32 delta instruct - base, U, S, V = torch.svd_lowrank(delta, q=RANK+OVERSAMPLING,
        niter=NITER) (default 10 and 2, what a mergekit-style script reaches for when torch.linalg.svd is too slow),
        lora_B = U_r sqrt(S_r) and lora_A = sqrt(S_r) V_r^T in the instruct tensor's dtype. Other tensors are left out.
    python3 torch_baselines.py lora-error BASE INSTRUCT ADAPTER
        Not timed: ||delta - scaling B A||_F / ||delta||_F of each module of the LoRA adapter folder (or file) ADAPTER,
        in binary32 (each row's norm in binary32, their squares summed in binary64); one JSON line with the mean, the
        largest and each module's.
    python3 torch_baselines.py lora-full-svd RANK BASE INSTRUCT
        Not a baseline: the seconds of a full torch.linalg.svd of the first 2-D delta, and the relative error of its
        best rank-RANK approximation (Eckart-Young: sqrt of the energy past RANK), as one JSON line.

Inputs are .safetensors files or folders of them (shards); OUT is one .safetensors file.

The fastest reasonable way, as measured on a 2-core VM with Debian bookworm's python3-torch:
- Inputs are memory-mapped and every tensor is a zero-copy view of the map (torch.frombuffer), as
  `safetensors.safe_open` hands them out (Debian has no python3-safetensors; the format is a JSON header).
- Every result goes through `out=` into one preallocated buffer, reused for every tensor: compute is
  `torch.sub(b, a, out=o)`, apply `torch.add(c, r, alpha=alpha, out=o)`, when all have one dtype.
- Mixed dtypes (an f32 residual of bf16 models; a bf16 model plus an f32 residual) go through preallocated wide
  buffers instead: the narrow operand is copied into one, the arithmetic runs in place, the result is narrowed
  with one copy. `torch.sub(b, a, out=o_f32)` of bf16 tensors would round the difference to bf16 before widening
  it; `torch.sub(b.float(), a.float(), out=o)` allocates two fresh f32 tensors per tensor (about 5x slower), and
  `torch.add(c_bf16, r_f32, out=o_bf16)` a fresh one (about 3x slower). The bits are the same: one binary32
  rounding, then one narrowing to the output's dtype, as the CLI's.
- Each result is written with one write() after the header, and the file is fsync'ed before exit, as the CLI's
  outputs are fdatasync'ed. (Computing straight into a memory map of the output file was no faster.)
- torch computes with every core: torch.set_num_threads(os.cpu_count()); Debian's torch starts with one.
- LoRA: the delta is widened into a preallocated f32 buffer as compute f32 does (b copied in, a subtracted in place),
  torch.svd_lowrank factors it (its products run on torch's BLAS: with Debian's reference libblas3 one 8192 x 4096
  matrix took 96 s, with OpenBLAS 2.5 s, so the bench gives it an optimized BLAS, `LD_LIBRARY_PATH`, as Debian's
  alternatives would on installing libopenblas0-pthread), the factors are written one by one after the header.

All inputs must hold the same tensor names with the same shapes (the bench's pairs do); vocabulary growth and tied
embeddings, which the CLI handles, are not handled here. An ALPHA that bf16 cannot hold is rounded to bf16 by
torch's bf16 kernel (the CLI keeps it in binary32); the bench applies with 1.
"""
import glob
import json
import math
import mmap
import os
import re
import struct
import sys
import time
import warnings

import torch

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
# Same-sized integers, to compare bits (NaN payloads, -0) and to pass half floats to numpy-free byte views.
BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
ALIGNMENT = 8

# Views of a read-only map: torch warns that writing through them would be undefined; nothing writes them.
warnings.filterwarnings("ignore", message="The given buffer is not writable")
torch.set_num_threads(os.cpu_count() or 1)


def element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def numel(shape):
    count = 1
    for dimension in shape:
        count *= dimension
    return count


class Checkpoint:
    """A safetensors file, or a folder's *.safetensors shards, memory-mapped: tensors are zero-copy views, in file order."""

    def __init__(self, path):
        files = sorted(glob.glob(os.path.join(path, "*.safetensors"))) if os.path.isdir(path) else [path]
        if not files:
            sys.exit(f"no .safetensors file in {path}")
        self.entries = {}
        for file in files:
            with open(file, "rb") as handle:
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            (length,) = struct.unpack_from("<Q", mapped, 0)
            header = json.loads(mapped[8:8 + length])
            header.pop("__metadata__", None)
            for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
                self.entries[name] = (mapped, 8 + length, entry)

    def names(self):
        return list(self.entries)

    def dtype(self, name):
        return DTYPES[self.entries[name][2]["dtype"]]

    def shape(self, name):
        return self.entries[name][2]["shape"]

    def tensor(self, name):
        mapped, data_start, entry = self.entries[name]
        dtype = DTYPES[entry["dtype"]]
        begin, end = entry["data_offsets"]
        count = (end - begin) // element_size(dtype)
        if count == 0:
            return torch.empty(entry["shape"], dtype=dtype)
        return torch.frombuffer(mapped, dtype=dtype, count=count, offset=data_start + begin).view(entry["shape"])


class Buffers:
    """Named scratch buffers (torch.empty, so untouched until written), each allocated once at the largest size
    asked of it and reused for every tensor."""

    def __init__(self):
        self.raw = {}

    def view(self, slot, dtype, shape):
        size = numel(shape) * element_size(dtype)
        if slot not in self.raw or self.raw[slot].numel() < size:
            self.raw[slot] = torch.empty(max(size, 8), dtype=torch.uint8)
        return self.raw[slot][:size].view(dtype).view(shape)

    def bytes(self, slot, size):
        return self.raw[slot][:size].numpy()


def widened(tensor, dtype, buffers, slot):
    """The tensor itself when it has the dtype already, else a copy into a preallocated buffer."""
    if tensor.dtype == dtype:
        return tensor
    target = buffers.view(slot, dtype, tensor.shape)
    target.copy_(tensor)
    return target


def encode_header(planned):
    """planned: list of (name, dtype, shape) in data order."""
    header = {"__metadata__": {"format": "pt"}}
    cursor = 0
    for name, dtype, shape in planned:
        size = numel(shape) * element_size(dtype)
        header[name] = {"dtype": NAMES[dtype], "shape": list(shape), "data_offsets": [cursor, cursor + size]}
        cursor += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


def write_checkpoint(out, planned, buffers, produce):
    """Writes the header, then for each planned tensor `produce(name, o)` fills o (in the 'out' buffer) and it is written."""
    with open(out, "wb") as handle:
        handle.write(encode_header(planned))
        for name, dtype, shape in planned:
            output = buffers.view("out", dtype, shape)
            produce(name, output)
            handle.write(buffers.bytes("out", output.numel() * output.element_size()))
        handle.flush()
        os.fsync(handle.fileno())


def compute(residual_dtype, base, instruct, out):
    a_file, b_file = Checkpoint(base), Checkpoint(instruct)
    dtype_of = (lambda name: torch.float32) if residual_dtype == "f32" else b_file.dtype
    planned = [(name, dtype_of(name), b_file.shape(name)) for name in b_file.names()]
    buffers = Buffers()

    def produce(name, output):
        sub_into(b_file.tensor(name), a_file.tensor(name), output, buffers)

    write_checkpoint(out, planned, buffers, produce)


def sub_into(b, a, output, buffers):
    """output = b - a, computed in the widest of the three dtypes and rounded once to output's dtype."""
    if a.dtype == b.dtype == output.dtype:
        torch.sub(b, a, out=output)
        return
    wide = torch.promote_types(torch.promote_types(a.dtype, b.dtype), output.dtype)
    # An f32 output of bf16 inputs is its own accumulator: b is widened into it, a into one buffer.
    accumulator = output if output.dtype == wide else buffers.view("wide", wide, b.shape)
    accumulator.copy_(b)
    accumulator.sub_(widened(a, wide, buffers, "a"))
    if accumulator is not output:
        output.copy_(accumulator)


def apply(base, residual, out, alpha=1.0):
    c_file, r_file = Checkpoint(base), Checkpoint(residual)
    planned = [(name, c_file.dtype(name), c_file.shape(name)) for name in c_file.names()]
    buffers = Buffers()
    write_checkpoint(out, planned, buffers, lambda name, output: add_into(c_file.tensor(name), r_file.tensor(name), alpha, output, buffers))


def add_into(c, r, alpha, output, buffers):
    """output = c + alpha * r, computed in the wider of the two dtypes and rounded once to output's dtype."""
    if c.dtype == r.dtype == output.dtype:
        torch.add(c, r, alpha=alpha, out=output)
        return
    wide = torch.promote_types(c.dtype, r.dtype)
    accumulator = widened(c, wide, buffers, "c")
    torch.add(accumulator, widened(r, wide, buffers, "r"), alpha=alpha, out=accumulator)
    output.copy_(accumulator)


def verify(base, residual, instruct):
    c_file, r_file, b_file = Checkpoint(base), Checkpoint(residual), Checkpoint(instruct)
    buffers = Buffers()
    mismatches = 0
    total = 0
    for name in b_file.names():
        b = b_file.tensor(name)
        rebuilt = buffers.view("out", b.dtype, b.shape)
        add_into(c_file.tensor(name), r_file.tensor(name), 1.0, rebuilt, buffers)
        bits = BITS[b.element_size()]
        mask = buffers.view("mask", torch.bool, b.shape)
        torch.ne(rebuilt.view(bits), b.view(bits), out=mask)
        mismatches += int(torch.count_nonzero(mask))
        total += b.numel()
    print(json.dumps({"elements": total, "mismatches": mismatches}))
    sys.exit(1 if mismatches else 0)


def residuals_package(base, instruct, out):
    base_file, instruct_file = Checkpoint(base), Checkpoint(instruct)
    base_state = {name: base_file.tensor(name).float() for name in base_file.names()}
    instruct_state = {name: instruct_file.tensor(name).float() for name in instruct_file.names()}
    deltas = {name: (instruct_state[name] - base_state[name]).to(dtype=instruct_state[name].dtype) for name in instruct_state}
    names = sorted(deltas)
    with open(out, "wb") as handle:
        handle.write(encode_header([(name, deltas[name].dtype, deltas[name].shape) for name in names]))
        for name in names:
            tensor = deltas[name]
            handle.write(memoryview(tensor.view(BITS[tensor.element_size()]).numpy()).cast("B"))
        handle.flush()
        os.fsync(handle.fileno())


LORA_OVERSAMPLING = 10
LORA_NITER = 2


def lora_matrices(checkpoint):
    """The tensors a LoRA adapter carries: 2-D float weights, as (name, module)."""
    return [(name, name[:-len(".weight")]) for name in checkpoint.names()
            if name.endswith(".weight") and len(checkpoint.shape(name)) == 2 and checkpoint.dtype(name).is_floating_point]


def f32_delta(a_file, b_file, name, buffers):
    """instruct - base of one tensor in binary32 (exact for bf16 and f16 models), in the reused 'delta' buffer."""
    delta = buffers.view("delta", torch.float32, b_file.shape(name))
    sub_into(b_file.tensor(name), a_file.tensor(name), delta, buffers)
    return delta


def lora(rank, base, instruct, out, oversampling=LORA_OVERSAMPLING, niter=LORA_NITER):
    a_file, b_file = Checkpoint(base), Checkpoint(instruct)
    matrices = lora_matrices(b_file)
    planned = []
    for name, module in matrices:
        rows, cols = b_file.shape(name)
        r = min(rank, rows, cols)
        planned.append((f"base_model.model.{module}.lora_A.weight", b_file.dtype(name), [r, cols]))
        planned.append((f"base_model.model.{module}.lora_B.weight", b_file.dtype(name), [rows, r]))
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    buffers = Buffers()
    svd_seconds = 0.0
    with open(os.path.join(out, "adapter_model.safetensors"), "wb") as handle:
        handle.write(encode_header(planned))
        for name, _ in matrices:
            delta = f32_delta(a_file, b_file, name, buffers)
            rows, cols = delta.shape
            r = min(rank, rows, cols)
            start = time.perf_counter()
            u, s, v = torch.svd_lowrank(delta, q=min(r + oversampling, rows, cols), niter=niter)
            svd_seconds += time.perf_counter() - start
            root = s[:r].sqrt()
            factor_a = (v[:, :r] * root).t().contiguous().to(b_file.dtype(name))
            factor_b = (u[:, :r] * root).contiguous().to(b_file.dtype(name))
            for factor in (factor_a, factor_b):
                handle.write(memoryview(factor.view(BITS[factor.element_size()]).numpy()).cast("B"))
        handle.flush()
        os.fsync(handle.fileno())
    config = {"peft_type": "LORA", "r": rank, "lora_alpha": rank, "target_modules": [module for _, module in matrices],
              "bias": "none", "fan_in_fan_out": False, "base_model_name_or_path": base}
    with open(os.path.join(out, "adapter_config.json"), "w") as handle:
        json.dump(config, handle)
    print(json.dumps({"matrices": len(matrices), "svdSeconds": svd_seconds, "oversampling": oversampling, "niter": niter}))


LORA_FACTOR = re.compile(r"^base_model\.model\.(.+)\.lora_A\.weight$")


def frobenius(matrix):
    """||matrix||_F: each row's norm in binary32, their squares summed in binary64. One binary32 norm of all 33 M
    elements of an 8192 x 4096 matrix came out 0.1% low; vector_norm(dtype=float64) is exact but 300 times slower."""
    return torch.linalg.vector_norm(matrix, dim=1).double().square().sum().sqrt().item()


def lora_error(base, instruct, adapter):
    a_file, b_file, factors = Checkpoint(base), Checkpoint(instruct), Checkpoint(adapter)
    config_path = os.path.join(adapter if os.path.isdir(adapter) else os.path.dirname(adapter), "adapter_config.json")
    scaling = 1.0
    if os.path.exists(config_path):
        with open(config_path) as handle:
            config = json.load(handle)
        scaling = config.get("lora_alpha", 8) / config.get("r", 8)
    buffers = Buffers()
    errors = {}
    for factor_name in factors.names():
        match = LORA_FACTOR.match(factor_name)
        if not match:
            continue
        module = match.group(1)
        delta = f32_delta(a_file, b_file, f"{module}.weight", buffers)
        norm = frobenius(delta)
        factor_a = factors.tensor(factor_name).float()
        factor_b = factors.tensor(f"base_model.model.{module}.lora_B.weight").float()
        delta.addmm_(factor_b, factor_a, alpha=-scaling)
        residue = frobenius(delta)
        errors[module] = residue / norm if norm > 0 else 0.0
    values = list(errors.values())
    print(json.dumps({"matrices": len(values), "mean": sum(values) / len(values) if values else None,
                      "max": max(values) if values else None, "errors": errors}))


def lora_full_svd(rank, base, instruct):
    a_file, b_file = Checkpoint(base), Checkpoint(instruct)
    name, _ = lora_matrices(b_file)[0]
    delta = f32_delta(a_file, b_file, name, Buffers())
    start = time.perf_counter()
    s = torch.linalg.svd(delta, full_matrices=False)[1]
    seconds = time.perf_counter() - start
    energy = s.double().square()
    total = energy.sum().item()
    print(json.dumps({"tensor": name, "shape": list(delta.shape), "seconds": seconds, "rank": rank,
                      "optimumRelativeError": math.sqrt(energy[rank:].sum().item() / total) if total > 0 else 0.0}))


def blas():
    """What torch's matrix products run on: MKL when built in, else the BLAS library mapped into this process."""
    if "BLAS_INFO=mkl" in torch.__config__.show():
        return "MKL (built in)", False
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    try:
        with open("/proc/self/maps") as handle:
            paths = {line.split()[-1] for line in handle if "/" in line}
    except OSError:
        return "unknown", False
    for path in sorted(paths):
        if re.search(r"lib(open)?blas|blis|mkl", os.path.basename(path)):
            real = os.path.realpath(path)
            # Debian's libblas3 lives in .../blas/; OpenBLAS, BLIS and ATLAS in folders of their own.
            return real, os.path.basename(os.path.dirname(real)) == "blas" and os.path.basename(real).startswith("libblas.so")
    return "unknown", False


def version():
    library, reference = blas()
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0],
                      "blas": library, "referenceBlas": reference}))


def main(argv):
    mode, arguments = (argv[0], argv[1:]) if argv else ("", [])
    if mode == "version" and not arguments:
        version()
    elif mode == "compute" and len(arguments) == 4 and arguments[0] in ("f32", "same"):
        compute(*arguments)
    elif mode == "apply" and len(arguments) in (3, 4):
        apply(*arguments[:3], *[float(alpha) for alpha in arguments[3:]])
    elif mode == "verify" and len(arguments) == 3:
        verify(*arguments)
    elif mode == "residuals-package" and len(arguments) == 3:
        residuals_package(*arguments)
    elif mode == "lora" and len(arguments) in (4, 6):
        lora(int(arguments[0]), *arguments[1:4], *[int(value) for value in arguments[4:]])
    elif mode == "lora-error" and len(arguments) == 3:
        lora_error(*arguments)
    elif mode == "lora-full-svd" and len(arguments) == 3:
        lora_full_svd(int(arguments[0]), *arguments[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
