"""Converting and quantizing refuse what they cannot do with a clear error, and the local
model cache never lets a name from a server or a user leave its root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.models.cache import ModelCache, ModelCacheError, parse_model_name
from ophis.models.convert import ModelConversionError, convert_bert
from ophis.models.quantize import QuantizationError, quantize_gguf
from ophis.testing import models as hostile
from ophis.testing.cli import isolated_user, ophis

HOSTILE_GGUF = {
    "claiming 2^60 tensors": hostile.gguf_claiming_tensors(),
    "a 2^62-byte string": hostile.gguf_claiming_string(),
    "an array of 2^60 strings": hostile.gguf_claiming_array(),
    "a 2^40-element tensor past the end": hostile.gguf_tensor_past_the_end(),
}


def test_convert_refuses_a_model_that_is_not_bert(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
    with pytest.raises(ModelConversionError, match="is not a BERT model") as caught:
        convert_bert(tmp_path, tmp_path / "out.gguf")
    assert "convert_hf_to_gguf" in caught.value.remedy
    assert not (tmp_path / "out.gguf").exists()


def test_convert_names_a_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ModelConversionError, match=r"config\.json is missing"):
        convert_bert(tmp_path, tmp_path / "out.gguf")


def test_quantize_names_the_methods_it_can_write(tmp_path: Path) -> None:
    with pytest.raises(QuantizationError, match="Q4_K_M") as caught:
        quantize_gguf(tmp_path / "in.gguf", tmp_path / "out.gguf", "Q4_K_M")
    assert "Q8_0" in caught.value.remedy


def test_quantize_refuses_a_file_that_is_not_gguf_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in.gguf"
    source.write_bytes(b"not a model" * 100)
    with pytest.raises(QuantizationError, match="not a readable GGUF file"):
        quantize_gguf(source, tmp_path / "out.gguf", "Q8_0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.gguf"]


@pytest.mark.parametrize(
    "basename", ["../../.bashrc", "/etc/passwd", "sub/model.gguf", "..", "a\x00b.gguf", ""]
)
def test_the_cache_refuses_file_names_that_leave_their_folder(
    tmp_path: Path, basename: str
) -> None:
    with pytest.raises(ModelCacheError, match="file name"):
        ModelCache(tmp_path).file("alice", "minilm", "1.0", basename)


def test_the_cache_refuses_a_version_that_leaves_its_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelCacheError, match="version"):
        ModelCache(tmp_path).file("alice", "minilm", "../..", "model.gguf")


@pytest.mark.parametrize("spec", ["../minilm", "alice/..", "alice", "alice/a/b", "/minilm"])
def test_model_names_are_owner_slash_name(spec: str) -> None:
    with pytest.raises(ModelCacheError):
        parse_model_name(spec)


def test_removing_a_model_that_was_never_pulled_says_how_to_pull_it(tmp_path: Path) -> None:
    with pytest.raises(ModelCacheError, match="not in the model cache") as caught:
        ModelCache(tmp_path).remove("alice/minilm", "Q8_0")
    assert caught.value.remedy == "Pull it first: ophis model pull alice/minilm --quantization Q8_0"


@pytest.mark.parametrize("content", HOSTILE_GGUF.values(), ids=HOSTILE_GGUF.keys())
def test_quantize_refuses_a_hostile_header_before_the_library_reads_it(
    tmp_path: Path, content: bytes
) -> None:
    source = tmp_path / "hostile.gguf"
    source.write_bytes(content)
    with pytest.raises(QuantizationError, match="not a readable GGUF file"):
        quantize_gguf(source, tmp_path / "out.gguf", "Q8_0")
    assert not (tmp_path / "out.gguf").exists()


def test_serve_refuses_hostile_files_before_llama_cpp_loads_them(tmp_path: Path) -> None:
    """Each is refused by the bounded header check, quickly and with a clear message (a
    header claiming 2^62 bytes would otherwise be a huge allocation)."""
    env = isolated_user(tmp_path)
    for label in ("claiming 2^60 tensors", "a 2^62-byte string"):
        content = HOSTILE_GGUF[label]
        path = tmp_path / f"{label.replace(' ', '-')}.gguf"
        path.write_bytes(content)
        result = ophis(env, "model", "serve", str(path), "--json")
        assert result.returncode == 1, label
        refused = json.loads(result.stdout)
        assert refused["exception_name"] == "InvalidArchiveError", label
        assert path.name in refused["message"], label
