"""Torch baselines for `npm run bench`: each job done the fastest reasonable way with torch alone.

    python3 torch_baselines.py version
        One JSON line: torch.__version__, the threads torch computes with, the python's version.
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

All inputs must hold the same tensor names with the same shapes (the bench's pairs do); vocabulary growth and tied
embeddings, which the CLI handles, are not handled here. An ALPHA that bf16 cannot hold is rounded to bf16 by
torch's bf16 kernel (the CLI keeps it in binary32); the bench applies with 1.
"""
import glob
import json
import mmap
import os
import struct
import sys
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


def version():
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0]}))


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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
