"""A GGUF file into another GGUF with its weight matrices in a smaller type, by the ``gguf``
library's own quantizers (the same block formats llama.cpp reads).

As llama.cpp's quantizer does, 1-D tensors (biases, norms), ``*_norm.weight``, the
position and token-type embeddings stay F32: they are small and the model is sensitive to
them. A matrix whose rows do not divide into the method's blocks falls back to F16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ophis.core.atomic_file import atomic_path
from ophis.core.errors import InvalidPackageError, OphisError
from ophis.core.model_files import read_model_file

#: the methods the gguf library can write (its K-quants are read-only: make those with
#: llama.cpp's llama-quantize)
METHODS = ("F32", "F16", "BF16", "Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")
_KEEP_F32 = ("position_embd.weight", "token_types.weight")


class QuantizationError(OphisError):
    """A GGUF file or method Ophis cannot quantize."""

    exception_name = "QuantizationError"


@dataclass(frozen=True)
class Quantized:
    path: Path
    method: str
    size: int
    tensors: dict[str, int]  # tensor type -> how many tensors have it


def quantize_gguf(source: Path, output: Path, method: str) -> Quantized:
    """Write ``source`` with its matrices in ``method`` at ``output`` (atomically)."""
    import gguf

    method = method.upper()
    if method not in METHODS:
        raise QuantizationError(
            f"Unknown or unsupported quantization method {method!r}.",
            f"Use one of {', '.join(METHODS)}.",
        )
    target = gguf.GGMLQuantizationType[method]
    reader = _open(source)
    architecture = str(reader.fields["general.architecture"].contents())
    counts: dict[str, int] = {}
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as temporary:
        writer = gguf.GGUFWriter(temporary, architecture)
        _copy_metadata(reader, writer, method)
        for tensor in reader.tensors:
            data, kind = _convert(tensor, target)
            writer.add_tensor(tensor.name, data, raw_dtype=kind)
            counts[kind.name] = counts.get(kind.name, 0) + 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return Quantized(output, method, output.stat().st_size, counts)


def _open(source: Path) -> Any:
    """The gguf library's reader of ``source``, once its header passed the bounded check
    (the library would believe a header claiming 2^60 tensors)."""
    import gguf

    try:
        with source.open("rb") as stream:
            read_model_file(stream, source.stat().st_size, source.name)
        return gguf.GGUFReader(source)
    except (InvalidPackageError, ValueError, OSError, KeyError, IndexError) as error:
        raise QuantizationError(
            f"{source} is not a readable GGUF file: {error}", "Give a GGUF model file."
        ) from None


def _copy_metadata(reader: Any, writer: Any, method: str) -> None:
    """Every key of ``reader`` except those the writer sets itself, with the file type
    of ``method``."""
    import gguf

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in (
            "general.architecture",
            "general.file_type",
            "general.quantization_version",
        ):
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    file_type = (
        gguf.LlamaFileType.ALL_F32 if method == "F32" else gguf.LlamaFileType[f"MOSTLY_{method}"]
    )
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _convert(tensor: Any, target: Any) -> tuple[Any, Any]:
    import gguf
    import numpy as np

    kind = gguf.GGMLQuantizationType
    values = (
        np.asarray(tensor.data, dtype=np.float32)
        if tensor.tensor_type in (kind.F32, kind.F16)
        else gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    )
    if values.ndim <= 1 or tensor.name.endswith("_norm.weight") or tensor.name in _KEEP_F32:
        return values, kind.F32
    if target == kind.F32:
        return values, kind.F32
    try:
        return gguf.quants.quantize(values, target), target
    except gguf.QuantError:
        return gguf.quants.quantize(values, kind.F16), kind.F16
