"""Small model files for tests: a real (tiny, random) BERT-shaped GGUF written by the ``gguf``
library in F32, F16 or Q8_0, safetensors files written by hand, and hostile headers of both
formats that lie about their sizes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

#: the tiny encoder's shape: a vocabulary, a width and a number of layers
VOCABULARY, WIDTH, LAYERS = 64, 32, 2
#: the parameters of :func:`write_gguf`'s model, counted by hand from its tensor shapes
GGUF_PARAMETERS = VOCABULARY * WIDTH + LAYERS * (WIDTH * WIDTH + WIDTH)


def write_gguf(
    path: Path,
    quantization: str = "F32",
    *,
    architecture: str = "bert",
    license_: str = "apache-2.0",
    context_length: int = 512,
) -> Path:
    """A GGUF file of a tiny model (GGUF_PARAMETERS weights, random), its 2-D weights stored
    as ``quantization`` (F32, F16 or Q8_0), the file type set as llama.cpp's tools set it."""
    import gguf

    kinds = {
        "F32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
        "F16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
        "Q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    }
    kind, file_type = kinds[quantization]
    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(path, architecture)
    writer.add_name("tiny test encoder")
    writer.add_file_type(file_type)
    writer.add_context_length(context_length)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(LAYERS)
    writer.add_license(license_)
    if architecture == "bert":
        writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_tokenizer_model("bert")
    writer.add_token_list([f"t{i}" for i in range(VOCABULARY)])
    weights = {"token_embd.weight": (VOCABULARY, WIDTH)}
    for layer in range(LAYERS):
        weights[f"blk.{layer}.ffn_up.weight"] = (WIDTH, WIDTH)
    for name, shape in weights.items():
        values = rng.standard_normal(shape).astype(np.float32)
        if kind == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, values)
        elif kind == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(name, values.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quantize(values, kind), raw_dtype=kind)
    for layer in range(LAYERS):  # biases stay F32, as llama.cpp keeps 1-D tensors
        writer.add_tensor(f"blk.{layer}.ffn_up.bias", np.zeros(WIDTH, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def safetensors_bytes(
    tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None
) -> bytes:
    """A safetensors file of ``tensors`` (name -> (dtype, shape)), zero-filled, laid out
    one after the other as the format requires."""
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1}
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        nbytes = int(np.prod(shape)) * sizes[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    return with_header(json.dumps(header).encode(), bytes(offset))


def with_header(header: bytes, data: bytes = b"") -> bytes:
    """A safetensors file: the header's length, the header, the data."""
    return struct.pack("<Q", len(header)) + header + data


def write_safetensors(path: Path, dtype: str = "F16") -> Path:
    """A tiny BERT-like encoder (GGUF_PARAMETERS weights) in safetensors, all ``dtype``."""
    tensors = {"embeddings.word_embeddings.weight": (dtype, [VOCABULARY, WIDTH])}
    for layer in range(LAYERS):
        tensors[f"encoder.layer.{layer}.weight"] = (dtype, [WIDTH, WIDTH])
        tensors[f"encoder.layer.{layer}.bias"] = (dtype, [WIDTH])
    path.write_bytes(safetensors_bytes(tensors))
    return path


# --- hostile headers -------------------------------------------------------------------------


def _gguf_string(text: bytes, claimed: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if claimed is None else claimed) + text


def gguf_claiming_tensors(count: int = 2**60) -> bytes:
    """A GGUF header declaring ``count`` tensors and nothing else."""
    return b"GGUF" + struct.pack("<IQQ", 3, count, 0)


def gguf_claiming_string(length: int = 2**62) -> bytes:
    """A GGUF header whose first metadata key claims to be ``length`` bytes long."""
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_string(b"general.name", length)


def gguf_claiming_array(count: int = 2**60) -> bytes:
    """A GGUF header with an array of strings claiming ``count`` items."""
    key = _gguf_string(b"tokenizer.ggml.tokens")
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + key + struct.pack("<IIQ", 9, 8, count)


def gguf_tensor_past_the_end() -> bytes:
    """A GGUF file with one F32 tensor of 2^40 elements and no data."""
    tensor = _gguf_string(b"w") + struct.pack("<IQQIQ", 2, 2**20, 2**20, 0, 0)
    return b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + tensor


def safetensors_claiming_header(length: int = 2**62) -> bytes:
    return struct.pack("<Q", length) + b"{}"


def safetensors_past_the_end() -> bytes:
    header = {"w": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 2**42]}}
    return with_header(json.dumps(header).encode(), bytes(16))


def safetensors_overlapping() -> bytes:
    header = {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    return with_header(json.dumps(header).encode(), bytes(24))
