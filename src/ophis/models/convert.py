"""A sentence-transformers BERT directory (``config.json``, ``model.safetensors``, the
WordPiece tokenizer, ``1_Pooling/config.json``) into one GGUF file in F32 that llama.cpp
loads as architecture ``bert``.

No installable library converts Hugging Face weights to GGUF: llama.cpp's converter is a
script in its source tree, bound to torch and transformers. The rules here are llama.cpp's
for its ``bert`` architecture (what its loader reads), written with the ``gguf`` library:

* hyperparameters under ``bert.*`` (context, embedding and feed-forward lengths, blocks,
  heads, layer-norm epsilon), not causal, the sentence-transformers pooling (mean, CLS...);
* tensor names from gguf's own ``TensorNameMap`` (``encoder.layer.N.attention.self.query``
  -> ``blk.N.attn_q`` ...); the pooler and position ids are not used for embeddings;
* the vocabulary as WordPiece with llama.cpp's "phantom space": a word-start piece gets a
  leading U+2581, a ``##`` continuation loses its ``##``, control tokens stay as they are;
  special ids (CLS as BOS, SEP, UNK, PAD, MASK) from the tokenizer files by gguf's SpecialVocab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ophis.core.atomic_file import atomic_path
from ophis.core.errors import OphisError

#: a model card's JSON files are small; a larger one is not what it claims to be
MAX_CONFIG_BYTES = 64 * 1024 * 1024
_BERT_ARCHITECTURES = {"BertModel", "BertForMaskedLM"}
SPECIAL_TOKEN_TYPES = ("bos", "eos", "unk", "sep", "pad", "mask")
_UNUSED_TENSORS = {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
_POOLING_MODES = (  # sentence-transformers' Pooling flag -> llama.cpp's pooling type name
    ("pooling_mode_mean_tokens", "MEAN"),
    ("pooling_mode_cls_token", "CLS"),
    ("pooling_mode_lasttoken", "LAST"),
)


class ModelConversionError(OphisError):
    """A model directory Ophis cannot convert."""

    exception_name = "ModelConversionError"


@dataclass(frozen=True)
class Converted:
    path: Path
    architecture: str
    parameters: int
    tensors: int


def convert_bert(model_dir: Path, output: Path, name: str | None = None) -> Converted:
    """Write ``model_dir`` (a BERT-family sentence-transformers model) as GGUF F32 at
    ``output`` (atomically). Raises ModelConversionError naming what is missing or odd."""
    import gguf

    config = _read_json(model_dir / "config.json")
    if not _BERT_ARCHITECTURES & set(config.get("architectures") or []) and (
        config.get("model_type") != "bert"
    ):
        raise ModelConversionError(
            f"{model_dir} is not a BERT model (config.json: architectures "
            f"{config.get('architectures')}, model_type {config.get('model_type')!r}).",
            "Ophis converts BERT-family sentence-transformers models; for another "
            "architecture, use llama.cpp's convert_hf_to_gguf.py.",
        )
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ModelConversionError(
            f"{model_dir} has no model.safetensors.",
            "Save the model with safetensors (sentence-transformers does by default).",
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as temporary:
        writer = gguf.GGUFWriter(temporary, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
        writer.add_name(name or model_dir.name)
        _add_hyperparameters(writer, config, model_dir)
        _add_vocabulary(writer, model_dir, config)
        parameters, count = _add_tensors(writer, weights, int(config["num_hidden_layers"]))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return Converted(output, "bert", parameters, count)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelConversionError(
            f"{path} is missing.", "Point to a model directory as Hugging Face saves it."
        )
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelConversionError(
            f"{path} is larger than {MAX_CONFIG_BYTES} bytes.", "Check the model directory."
        )
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelConversionError(f"{path} is not JSON: {error}", "Check the file.") from None
    if not isinstance(value, dict):
        raise ModelConversionError(f"{path} is not a JSON object.", "Check the file.")
    return value


def _add_hyperparameters(writer: Any, config: dict[str, Any], model_dir: Path) -> None:
    import gguf

    try:
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_block_count(int(config["num_hidden_layers"]))
        writer.add_head_count(int(config["num_attention_heads"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelConversionError(
            f"{model_dir / 'config.json'} lacks a valid {error}.", "Check the model's config."
        ) from None
    writer.add_layer_norm_eps(float(config.get("layer_norm_eps", 1e-12)))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType[_pooling(model_dir)])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)


def _pooling(model_dir: Path) -> str:
    """The pooling sentence-transformers applies (``modules.json`` names the Pooling
    module's folder); mean pooling when the directory says nothing."""
    modules_file = model_dir / "modules.json"
    modules = json.loads(modules_file.read_text()) if modules_file.is_file() else []
    for module in modules if isinstance(modules, list) else []:
        if module.get("type") == "sentence_transformers.models.Pooling":
            folder = str(module.get("path") or "")
            if ".." in Path(folder).parts or Path(folder).is_absolute():
                break  # a module path that leaves the model directory is ignored
            pooling = _read_json(model_dir / folder / "config.json")
            for flag, kind in _POOLING_MODES:
                if pooling.get(flag):
                    return kind
    return "MEAN"


def _add_vocabulary(writer: Any, model_dir: Path, config: dict[str, Any]) -> None:
    import gguf

    tokens, special = _wordpiece_vocabulary(model_dir)
    pieces = [
        token if token in special else token[2:] if token.startswith("##") else "\u2581" + token
        for token in tokens
    ]
    types = [
        gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL for token in tokens
    ]
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_types(types)
    # the token-type (segment) embeddings' row count, which llama.cpp checks
    writer.add_token_type_count(int(config.get("type_vocab_size", 1)))
    # GGUF has no key for CLS: llama.cpp's BERT takes it as the BOS token, which
    # SpecialVocab sets from the tokenizer's cls_token
    gguf.SpecialVocab(model_dir, False, SPECIAL_TOKEN_TYPES, n_vocab=len(tokens)).add_to_gguf(
        writer, quiet=True
    )


def _wordpiece_vocabulary(model_dir: Path) -> tuple[list[str], set[str]]:
    """The tokens in id order and the special ones, from ``tokenizer.json`` (else
    ``vocab.txt``, one token a line)."""
    tokenizer_file = model_dir / "tokenizer.json"
    if tokenizer_file.is_file():
        tokenizer = _read_json(tokenizer_file)
        model = tokenizer.get("model") or {}
        if model.get("type") != "WordPiece":
            raise ModelConversionError(
                f"{tokenizer_file}: the tokenizer is {model.get('type')!r}, not WordPiece.",
                "Ophis converts BERT models with their WordPiece tokenizer.",
            )
        vocab: dict[str, int] = model["vocab"]
        tokens = [""] * len(vocab)
        for token, index in vocab.items():
            tokens[index] = token
        special = {
            added["content"] for added in tokenizer.get("added_tokens", []) if added.get("special")
        }
        return tokens, special
    vocab_file = model_dir / "vocab.txt"
    if not vocab_file.is_file():
        raise ModelConversionError(
            f"{model_dir} has neither tokenizer.json nor vocab.txt.",
            "Save the tokenizer with the model.",
        )
    tokens = vocab_file.read_text(encoding="utf-8").splitlines()
    return tokens, {t for t in tokens if t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}


def _add_tensors(writer: Any, weights: Path, blocks: int) -> tuple[int, int]:
    import gguf
    import numpy as np
    from safetensors import safe_open

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    parameters = count = 0
    with safe_open(str(weights), framework="numpy") as tensors:
        for source in tensors.keys():  # noqa: SIM118 (safe_open is no mapping)
            name = source.removeprefix("bert.")
            if name in _UNUSED_TENSORS or name.startswith("cls."):
                continue
            target = names.get_name(name, try_suffixes=(".weight", ".bias"))
            if target is None:
                raise ModelConversionError(
                    f"{weights}: tensor {source!r} has no place in llama.cpp's BERT.",
                    "This is not a plain BERT model; use llama.cpp's converter.",
                )
            data = np.ascontiguousarray(tensors.get_tensor(source), dtype=np.float32)
            writer.add_tensor(target, data)
            parameters += data.size
            count += 1
    return parameters, count
