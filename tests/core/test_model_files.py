"""Model file headers: what real GGUF (written by the gguf library) and safetensors files say
about themselves, and hostile headers refused after a few bytes, in bounded memory."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from ophis.core.errors import InvalidPackageError
from ophis.core.model_files import (
    EMBEDDING,
    TEXT_GENERATION,
    ModelFacts,
    ModelLimits,
    read_model_file,
)
from ophis.testing import models
from ophis.testing.models import GGUF_PARAMETERS, safetensors_bytes, with_header


def read(data: bytes, filename: str, **kwargs: object) -> ModelFacts:
    return read_model_file(io.BytesIO(data), len(data), filename, **kwargs)  # type: ignore[arg-type]


def read_path(path: Path, **kwargs: object) -> ModelFacts:
    return read(path.read_bytes(), path.name, **kwargs)


@pytest.mark.parametrize("quantization", ["F32", "F16", "Q8_0"])
def test_a_gguf_file_says_what_it_is(tmp_path: Path, quantization: str) -> None:
    facts = read_path(models.write_gguf(tmp_path / "m.gguf", quantization))
    assert facts == ModelFacts(
        format="gguf",
        quantization=quantization,
        parameters=GGUF_PARAMETERS,
        tensors=5,
        architecture="bert",
        context_length=512,
        license="apache-2.0",
        tokenizer="bert",
        task=EMBEDDING,
        name="tiny test encoder",
    )


def test_a_decoder_gguf_generates_text_unless_declared(tmp_path: Path) -> None:
    path = models.write_gguf(tmp_path / "m.gguf", architecture="llama")
    assert read_path(path).task == TEXT_GENERATION
    assert read_path(path, declared_task=EMBEDDING).task == EMBEDDING


def test_an_embedding_model_declared_as_a_generator_is_refused(tmp_path: Path) -> None:
    path = models.write_gguf(tmp_path / "m.gguf")
    with pytest.raises(InvalidPackageError, match="is an embedding model"):
        read_path(path, declared_task=TEXT_GENERATION)
    with pytest.raises(InvalidPackageError, match="task 'chat' is not one of"):
        read_path(path, declared_task="chat")


@pytest.mark.parametrize(("dtype", "method"), [("F32", "F32"), ("BF16", "BF16"), ("I8", "INT8")])
def test_a_safetensors_file_says_what_it_is(tmp_path: Path, dtype: str, method: str) -> None:
    facts = read_path(models.write_safetensors(tmp_path / "m.safetensors", dtype))
    assert (facts.format, facts.quantization, facts.parameters, facts.task) == (
        "safetensors", method, GGUF_PARAMETERS, EMBEDDING
    )  # fmt: skip


def test_a_file_of_another_kind_is_refused() -> None:
    with pytest.raises(InvalidPackageError, match="is not a model file"):
        read(b"GGUF", "weights.bin")
    with pytest.raises(InvalidPackageError, match="magic number"):
        read(b"PK\x03\x04" + bytes(64), "m.gguf")


HOSTILE: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "2^60 tensors": (models.gguf_claiming_tensors, "m.gguf", f"declares {2**60} tensors"),
    "a 2^62-byte string": (models.gguf_claiming_string, "m.gguf", f"is {2**62} bytes"),
    "a 2^60-item array": (models.gguf_claiming_array, "m.gguf", f"declares {2**60} items"),
    "a tensor past the end": (models.gguf_tensor_past_the_end, "m.gguf", "past the end"),
    "a 2^62-byte header": (
        models.safetensors_claiming_header, "m.safetensors", "goes past the end of the file"
    ),
    "offsets past the end": (models.safetensors_past_the_end, "m.safetensors", "past the end"),
    "overlapping tensors": (models.safetensors_overlapping, "m.safetensors", "overlap"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_lying_header_is_refused_in_bounded_memory(case: str) -> None:
    make, filename, rule = HOSTILE[case]
    data = make()
    tracemalloc.start()
    try:
        with pytest.raises(InvalidPackageError, match=rule):
            read(data, filename)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024**2, f"{case}: {peak} bytes"


def test_a_header_larger_than_the_bound_is_refused() -> None:
    data = safetensors_bytes({"w": ("F32", [4])}, {"note": "x" * 4096})
    with pytest.raises(InvalidPackageError, match="larger than 1024 bytes"):
        read(data, "m.safetensors", limits=ModelLimits(max_header_bytes=1024))


def test_safetensors_bytes_belonging_to_no_tensor_are_refused() -> None:
    header = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}
    with pytest.raises(InvalidPackageError, match="belong to no tensor"):
        read(with_header(json.dumps(header).encode(), bytes(16)), "m.safetensors")


def test_safetensors_sizes_that_disagree_with_the_shape_are_refused() -> None:
    header = {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}
    with pytest.raises(InvalidPackageError, match="do not hold 3 F32 values"):
        read(with_header(json.dumps(header).encode(), bytes(16)), "m.safetensors")


def test_a_truncated_gguf_is_refused(tmp_path: Path) -> None:
    data = models.write_gguf(tmp_path / "m.gguf").read_bytes()
    with pytest.raises(InvalidPackageError, match="past the end"):
        read(data[: len(data) - 100], "m.gguf")
    with pytest.raises(InvalidPackageError):
        read(data[:200], "m.gguf")


def test_a_big_endian_or_old_gguf_is_named() -> None:
    with pytest.raises(InvalidPackageError, match="big-endian"):
        read(b"GGUF" + struct.pack(">IQQ", 3, 0, 0), "m.gguf")
    with pytest.raises(InvalidPackageError, match="version 1 is not supported"):
        read(b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "m.gguf")


def test_a_safetensors_task_comes_from_its_head_or_from_the_uploader() -> None:
    generator = safetensors_bytes({"lm_head.weight": ("BF16", [8, 4]), "h.0.w": ("BF16", [4])})
    assert read(generator, "m.safetensors").task == TEXT_GENERATION
    plain = safetensors_bytes({"w": ("F16", [4, 4])})
    assert read(plain, "m.safetensors").task == ""
    assert read(plain, "m.safetensors", declared_task=EMBEDDING).task == EMBEDDING
