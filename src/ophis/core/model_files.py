"""Model weight files (GGUF, safetensors): their headers read with limits, and what they say
about the model -- format, quantization method, parameter count, architecture, context
length, license, tokenizer and task.

Every count, length and size a header declares is checked against a bound before anything
of that size is read or allocated, and every tensor's bytes must lie inside the file, so a
header that lies (2^60 tensors, a 2^62-byte string, offsets past the end or overlapping)
is refused after reading a few bytes, naming what was wrong.

The ``gguf`` library's ``GGUFReader`` is not used on uploads: it memory-maps the file and
builds numpy views of whatever counts and lengths the header declares, trusting them, so a
hostile header costs what it claims. Its tables of quantization types and block sizes are
used; the parser is written here. ``parameters`` is always counted from the tensor shapes,
never taken from the file's metadata or the uploader.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import IO, Any

from ophis.core.errors import InvalidPackageError

GGUF, SAFETENSORS = "gguf", "safetensors"
EMBEDDING, TEXT_GENERATION = "embedding", "text-generation"
#: the tasks a model may be declared for
TASKS = (EMBEDDING, TEXT_GENERATION)
#: file name suffixes of the formats
SUFFIXES = {".gguf": GGUF, ".safetensors": SAFETENSORS}


@dataclass(frozen=True)
class ModelLimits:
    """What a header may declare before it is refused."""

    max_header_bytes: int = 64 * 1024**2
    max_tensors: int = 100_000
    max_metadata_keys: int = 100_000
    max_string_bytes: int = 1024**2
    #: elements of one metadata array (a tokenizer's vocabulary is a few hundred thousand)
    max_array_items: int = 4_000_000
    #: metadata strings longer than this are checked and skipped, not kept
    kept_string_bytes: int = 4096


DEFAULT_LIMITS = ModelLimits()


@dataclass(frozen=True)
class ModelFacts:
    """What a model file says about itself."""

    format: str
    quantization: str
    #: counted from the tensor shapes
    parameters: int
    tensors: int
    architecture: str = ""
    context_length: int | None = None
    license: str = ""
    tokenizer: str = ""
    #: EMBEDDING, TEXT_GENERATION or "" (unknown)
    task: str = ""
    #: the model's own name (GGUF ``general.name``)
    name: str = ""

    def card(self) -> dict[str, Any]:
        """The facts as a JSON object (what the server keeps with the file)."""
        return {
            "format": self.format,
            "quantization": self.quantization,
            "parameters": self.parameters,
            "tensors": self.tensors,
            "architecture": self.architecture,
            "context_length": self.context_length,
            "license": self.license,
            "tokenizer": self.tokenizer,
            "task": self.task,
            "model_name": self.name,
        }


def model_format(filename: str) -> str | None:
    """GGUF or SAFETENSORS by the file name's suffix; None for any other file."""
    suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return SUFFIXES.get(suffix)


def read_model_file(
    stream: IO[bytes],
    size: int,
    filename: str,
    *,
    declared_task: str = "",
    limits: ModelLimits = DEFAULT_LIMITS,
) -> ModelFacts:
    """Read and check the header of the model file ``filename`` (``size`` bytes, open as
    ``stream``); raises InvalidPackageError naming what is wrong. ``declared_task`` (what
    the uploader says, "" for nothing) must be one of TASKS and agree with the weights."""
    kind = model_format(filename)
    if kind is None:
        raise InvalidPackageError(filename, "is not a model file (.gguf or .safetensors)")
    if declared_task and declared_task not in TASKS:
        raise InvalidPackageError(
            filename,
            f"task {declared_task!r} is not one of {', '.join(TASKS)}",
            f"Declare one of: {', '.join(TASKS)}.",
        )
    reader = _Reader(stream, size, filename, limits)
    facts = _read_gguf(reader) if kind == GGUF else _read_safetensors(reader)
    return _with_task(facts, declared_task, filename)


def _with_task(facts: ModelFacts, declared: str, filename: str) -> ModelFacts:
    """The declared task wins over a guess; it may not contradict what the weights say
    for sure (a pooling layer, a BERT encoder: an embedding model)."""
    if facts.task == EMBEDDING and declared and declared != EMBEDDING:
        raise InvalidPackageError(
            filename,
            f"it is an embedding model ({facts.architecture or 'it has a pooling layer'}),"
            f" not {declared!r}",
            "Upload it with --task embedding, or without --task.",
        )
    if declared:
        return replace(facts, task=declared)
    if not facts.task and facts.format == GGUF:
        return replace(facts, task=TEXT_GENERATION)  # llama.cpp's models generate text
    return facts


# --- a bounded reader --------------------------------------------------------------------


class _Reader:
    """Reads a header from the start of a file: never past ``limits.max_header_bytes``
    nor past the end of the file, each read's size checked before it is made."""

    def __init__(self, stream: IO[bytes], size: int, filename: str, limits: ModelLimits):
        self.stream, self.size, self.filename, self.limits = stream, size, filename, limits
        self.position = 0

    def refuse(self, rule: str) -> InvalidPackageError:
        return InvalidPackageError(
            self.filename,
            rule,
            "The model file was rejected: export it again with a current tool"
            " (llama.cpp's convert scripts, the gguf or safetensors libraries).",
        )

    def room(self, count: int, what: str) -> None:
        """Refuse a read of ``count`` bytes that would go past the header's bound or the
        file's end."""
        end = self.position + count
        if count < 0 or end > self.size:
            raise self.refuse(f"{what} ({count} bytes) goes past the end of the file")
        if end > self.limits.max_header_bytes:
            raise self.refuse(
                f"{what} ({count} bytes) makes the header larger than"
                f" {self.limits.max_header_bytes} bytes"
            )

    def take(self, count: int, what: str) -> bytes:
        self.room(count, what)
        data = self.stream.read(count)
        if len(data) != count:
            raise self.refuse(f"the file ends inside {what}")
        self.position += count
        return data

    def skip(self, count: int, what: str) -> None:
        self.room(count, what)
        self.position += count
        self.stream.seek(self.position)

    def unpack(self, fmt: str, what: str) -> Any:
        values = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))
        return values[0] if len(values) == 1 else values


# --- GGUF ----------------------------------------------------------------------------------

_GGUF_MAGIC = b"GGUF"
_GGUF_VERSIONS = (2, 3)
_DEFAULT_ALIGNMENT = 32
#: GGML_MAX_DIMS
_MAX_DIMS = 4
# GGUF metadata value types (the GGUF specification's gguf_metadata_value_type)
_SCALARS = {
    0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
#: architectures of llama.cpp that embed rather than generate
_EMBEDDING_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "modern-bert", "neo-bert", "t5encoder"}
)
_LARGEST_ELEMENT_COUNT = 2**62


@dataclass
class _GGUFHeader:
    metadata: dict[str, Any] = field(default_factory=dict)
    #: (name, element count, ggml type, offset, bytes)
    tensors: list[tuple[str, int, int, int, int]] = field(default_factory=list)


def _read_gguf(reader: _Reader) -> ModelFacts:
    magic = reader.take(4, "the magic number")
    if magic != _GGUF_MAGIC:
        raise reader.refuse("it does not start with GGUF's magic number")
    version = reader.unpack("I", "the version")
    if version not in _GGUF_VERSIONS:
        if version in (2 << 24, 3 << 24):
            raise reader.refuse("it is a big-endian GGUF file, which is not supported")
        raise reader.refuse(f"GGUF version {version} is not supported (only 2 and 3)")
    tensor_count, key_count = reader.unpack("QQ", "the counts")
    limits = reader.limits
    if tensor_count > limits.max_tensors:
        raise reader.refuse(f"it declares {tensor_count} tensors (at most {limits.max_tensors})")
    if key_count > limits.max_metadata_keys:
        raise reader.refuse(
            f"it declares {key_count} metadata keys (at most {limits.max_metadata_keys})"
        )
    header = _GGUFHeader()
    for _ in range(key_count):
        key = _gguf_string(reader, "a metadata key", keep=True)
        header.metadata[key] = _gguf_value(reader, key)
    for _ in range(tensor_count):
        header.tensors.append(_gguf_tensor_info(reader))
    _check_gguf_data(reader, header)
    return _gguf_facts(header)


def _gguf_string(reader: _Reader, what: str, *, keep: bool) -> str:
    """A length-prefixed UTF-8 string; one longer than ``kept_string_bytes`` is skipped
    (returned as "") unless ``keep``."""
    length = reader.unpack("Q", f"the length of {what}")
    if length > reader.limits.max_string_bytes:
        raise reader.refuse(
            f"{what} is {length} bytes long (at most {reader.limits.max_string_bytes})"
        )
    if not keep and length > reader.limits.kept_string_bytes:
        reader.skip(length, what)
        return ""
    try:
        return reader.take(length, what).decode("utf-8")
    except UnicodeDecodeError:
        raise reader.refuse(f"{what} is not UTF-8") from None


def _gguf_value(reader: _Reader, key: str) -> Any:
    kind = reader.unpack("I", f"the type of {key}")
    if kind in _SCALARS:
        return reader.unpack(_SCALARS[kind], key)
    if kind == _STRING:
        return _gguf_string(reader, key, keep=False)
    if kind != _ARRAY:
        raise reader.refuse(f"metadata {key!r} has an unknown type {kind}")
    item_kind, count = reader.unpack("IQ", f"the array {key}")
    if count > reader.limits.max_array_items:
        raise reader.refuse(
            f"the array {key!r} declares {count} items (at most {reader.limits.max_array_items})"
        )
    if item_kind in _SCALARS:  # skipped: no kept fact is an array of numbers
        reader.skip(count * struct.calcsize(_SCALARS[item_kind]), f"the array {key}")
    elif item_kind == _STRING:
        for _ in range(count):
            _gguf_string(reader, f"an item of {key}", keep=False)
    else:
        raise reader.refuse(f"the array {key!r} holds items of type {item_kind}")
    return None  # arrays are checked, not kept


def _gguf_tensor_info(reader: _Reader) -> tuple[str, int, int, int, int]:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    name = _gguf_string(reader, "a tensor name", keep=True)
    dimensions = reader.unpack("I", f"the dimensions of {name}")
    if not 1 <= dimensions <= _MAX_DIMS:
        raise reader.refuse(f"tensor {name!r} has {dimensions} dimensions (1 to {_MAX_DIMS})")
    shape = reader.unpack("Q" * dimensions, f"the shape of {name}")
    shape = shape if isinstance(shape, tuple) else (shape,)
    kind, offset = reader.unpack("IQ", f"the type of {name}")
    elements = _element_count(reader, name, shape)
    if kind not in GGML_QUANT_SIZES:
        raise reader.refuse(f"tensor {name!r} has an unknown type {kind}")
    block, block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
    if shape[0] % block:
        raise reader.refuse(
            f"tensor {name!r}: its rows ({shape[0]}) are not whole blocks of {block}"
        )
    return name, elements, kind, offset, elements // block * block_bytes


def _element_count(reader: _Reader, name: str, shape: tuple[int, ...]) -> int:
    elements = 1
    for size in shape:
        elements *= size
        if elements > _LARGEST_ELEMENT_COUNT:
            raise reader.refuse(f"tensor {name!r} declares more than 2^62 elements")
    return elements


def _check_gguf_data(reader: _Reader, header: _GGUFHeader) -> None:
    """Each tensor's bytes lie aligned inside the data section, none overlapping."""
    alignment = header.metadata.get("general.alignment", _DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or not 0 < alignment <= 2**20 or alignment & (alignment - 1):
        raise reader.refuse(f"general.alignment {alignment!r} is not a power of two")
    start = -(-reader.position // alignment) * alignment
    _check_extents(
        reader,
        [(name, offset, nbytes) for name, _, _, offset, nbytes in header.tensors],
        reader.size - start,
        alignment,
    )


def _check_extents(
    reader: _Reader, extents: list[tuple[str, int, int]], data_size: int, alignment: int = 1
) -> None:
    """Tensors (name, offset, size) each inside ``data_size`` bytes, none overlapping."""
    end_of_previous, previous = 0, ""
    for name, offset, nbytes in sorted(extents, key=lambda extent: extent[1]):
        if offset % alignment:
            raise reader.refuse(f"tensor {name!r} is not aligned to {alignment} bytes")
        if offset + nbytes > data_size:
            raise reader.refuse(
                f"tensor {name!r} ({nbytes} bytes at {offset}) goes past the end of the file"
            )
        if offset < end_of_previous:
            raise reader.refuse(f"tensors {previous!r} and {name!r} overlap")
        end_of_previous, previous = offset + nbytes, name


def _gguf_facts(header: _GGUFHeader) -> ModelFacts:
    meta = header.metadata
    architecture = _text(meta.get("general.architecture"))
    pooled = f"{architecture}.pooling_type" in meta
    context = meta.get(f"{architecture}.context_length")
    return ModelFacts(
        format=GGUF,
        quantization=_gguf_quantization(header),
        parameters=sum(elements for _, elements, _, _, _ in header.tensors),
        tensors=len(header.tensors),
        architecture=architecture,
        context_length=context if isinstance(context, int) and context > 0 else None,
        license=_text(meta.get("general.license")),
        tokenizer=_text(meta.get("tokenizer.ggml.model")),
        task=EMBEDDING if pooled or architecture in _EMBEDDING_ARCHITECTURES else "",
        name=_text(meta.get("general.name")),
    )


def _text(value: Any) -> str:
    return value[:200] if isinstance(value, str) else ""


def _gguf_quantization(header: _GGUFHeader) -> str:
    """``general.file_type`` when the tensors bear it out (Q4_K_M has Q4_K tensors),
    else the type holding most of the weights."""
    from gguf import GGMLQuantizationType, LlamaFileType

    weights: Counter[str] = Counter()
    for _, elements, kind, _, _ in header.tensors:
        weights[GGMLQuantizationType(kind).name] += elements
    file_type = header.metadata.get("general.file_type")
    if isinstance(file_type, int) and file_type in LlamaFileType._value2member_map_:
        named = LlamaFileType(file_type).name.removeprefix("ALL_").removeprefix("MOSTLY_")
        if any(named.startswith(kind) for kind in weights):
            return named
    return weights.most_common(1)[0][0] if weights else ""


# --- safetensors --------------------------------------------------------------------------

#: bytes per element of each safetensors dtype
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
#: the quantization method a dtype holding most of the weights stands for
_DTYPE_METHODS = {"I8": "INT8", "U8": "INT8", "F8_E5M2": "FP8", "F8_E4M3": "FP8"}


def _read_safetensors(reader: _Reader) -> ModelFacts:
    length = reader.unpack("Q", "the header length")
    reader.room(length, "the JSON header")
    try:
        header = json.loads(reader.take(length, "the JSON header"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise reader.refuse("its header is not JSON") from None
    if not isinstance(header, dict):
        raise reader.refuse("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict):
        raise reader.refuse("its __metadata__ is not an object")
    if len(header) > reader.limits.max_tensors:
        raise reader.refuse(
            f"it declares {len(header)} tensors (at most {reader.limits.max_tensors})"
        )
    weights: Counter[str] = Counter()
    extents = []
    for name, info in header.items():
        dtype, elements, begin, end = _safetensors_tensor(reader, name, info)
        weights[dtype] += elements
        extents.append((name, begin, end - begin))
    data_size = reader.size - reader.position
    _check_extents(reader, extents, data_size)
    if sum(size for _, _, size in extents) != data_size:
        raise reader.refuse("its data holds bytes that belong to no tensor")
    dominant = weights.most_common(1)[0][0] if weights else ""
    return ModelFacts(
        format=SAFETENSORS,
        quantization=_DTYPE_METHODS.get(dominant, dominant),
        parameters=sum(weights.values()),
        tensors=len(header),
        architecture=_text(metadata.get("architecture")),
        license=_text(metadata.get("license")),
        task=_safetensors_task(header),
    )


def _safetensors_tensor(reader: _Reader, name: str, info: Any) -> tuple[str, int, int, int]:
    if not isinstance(info, dict):
        raise reader.refuse(f"tensor {name!r} is not described by an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in _DTYPE_BYTES:
        raise reader.refuse(f"tensor {name!r} has an unknown dtype {dtype!r}")
    if not (
        isinstance(shape, list)
        and len(shape) <= 8
        and all(isinstance(size, int) and size >= 0 for size in shape)
    ):
        raise reader.refuse(f"tensor {name!r} has no valid shape")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(offset, int) and offset >= 0 for offset in offsets)
        and offsets[0] <= offsets[1]
    ):
        raise reader.refuse(f"tensor {name!r} has no valid data_offsets")
    elements = _element_count(reader, name, tuple(shape))
    begin, end = offsets
    if end - begin != elements * _DTYPE_BYTES[dtype]:
        raise reader.refuse(
            f"tensor {name!r}: {end - begin} bytes do not hold {elements} {dtype} values"
        )
    return dtype, elements, begin, end


def _safetensors_task(header: dict[str, Any]) -> str:
    """A BERT-style encoder (a pooler, BERT's embeddings) embeds; a language-model head
    generates; anything else is what the uploader declares."""
    names = list(header)
    if any(name.startswith(("pooler.", "embeddings.word_embeddings")) for name in names):
        return EMBEDDING
    if any(name.startswith("lm_head.") for name in names):
        return TEXT_GENERATION
    return ""
