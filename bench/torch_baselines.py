"""Torch baselines for `npm run bench`, reading and writing safetensors by hand (no `safetensors` package).

    python3 torch_baselines.py stream BASE.safetensors INSTRUCT.safetensors OUT.safetensors
        Tensor by tensor, the way mergekit streams: read one tensor from each file,
        (b.float() - a.float()).to(bfloat16), write it, next.
    python3 torch_baselines.py fp32-dict BASE.safetensors INSTRUCT.safetensors OUT.safetensors
        The Python `residuals` package's way: both models loaded as fp32 state dicts, a dict of
        fp32 deltas, then one fp32 file written.

Both fsync the output before exiting, like the CLI's outputs (fdatasync'ed).
"""
import json
import os
import struct
import sys

import torch

DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
ALIGNMENT = 8


def read_header(handle):
    (length,) = struct.unpack("<Q", handle.read(8))
    header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    data_start = 8 + length
    entries = sorted(header.items(), key=lambda item: item[1]["data_offsets"][0])
    return data_start, entries


def read_tensor(handle, data_start, entry):
    begin, end = entry["data_offsets"]
    buffer = bytearray(end - begin)
    handle.seek(data_start + begin)
    view = memoryview(buffer)
    done = 0
    while done < len(buffer):
        count = handle.readinto(view[done:])
        if not count:
            raise EOFError("truncated tensor data")
        done += count
    return torch.frombuffer(buffer, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])


def encode_header(tensors):
    """tensors: list of (name, dtype name, shape, byte length) in data order."""
    header = {"__metadata__": {"format": "pt"}}
    cursor = 0
    for name, dtype, shape, size in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [cursor, cursor + size]}
        cursor += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % ALIGNMENT)
    return struct.pack("<Q", len(text)) + text


def tensor_bytes(tensor):
    # numpy has no bfloat16: view the bits as a 16-bit integer of the same size.
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.view(torch.int16)
    return memoryview(tensor.contiguous().numpy()).cast("B")


def stream(base, instruct, out):
    with open(base, "rb") as fa, open(instruct, "rb") as fb, open(out, "wb") as fo:
        start_a, entries_a = read_header(fa)
        start_b, entries_b = read_header(fb)
        by_name_b = dict(entries_b)
        element_bytes = torch.finfo(torch.bfloat16).bits // 8
        planned = []
        for name, entry in entries_a:
            count = 1
            for dimension in entry["shape"]:
                count *= dimension
            planned.append((name, "BF16", entry["shape"], count * element_bytes))
        fo.write(encode_header(planned))
        for name, entry in entries_a:
            a = read_tensor(fa, start_a, entry)
            b = read_tensor(fb, start_b, by_name_b[name])
            fo.write(tensor_bytes((b.float() - a.float()).to(torch.bfloat16)))
        fo.flush()
        os.fsync(fo.fileno())


def load_fp32(path):
    with open(path, "rb") as handle:
        start, entries = read_header(handle)
        return {name: read_tensor(handle, start, entry).float() for name, entry in entries}


def fp32_dict(base, instruct, out):
    base_state = load_fp32(base)
    instruct_state = load_fp32(instruct)
    deltas = {name: instruct_state[name] - base_state[name] for name in instruct_state}
    names = sorted(deltas)
    planned = [(name, NAMES[deltas[name].dtype], deltas[name].shape, deltas[name].numel() * deltas[name].element_size()) for name in names]
    with open(out, "wb") as fo:
        fo.write(encode_header(planned))
        for name in names:
            fo.write(tensor_bytes(deltas[name]))
        fo.flush()
        os.fsync(fo.fileno())


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("stream", "fp32-dict"):
        sys.exit(__doc__)
    {"stream": stream, "fp32-dict": fp32_dict}[sys.argv[1]](*sys.argv[2:5])
