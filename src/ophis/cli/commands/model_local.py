"""``ophis model`` on the user's machine: search a server's catalog, pull a variant into
the local cache, list and remove what was pulled, convert and quantize weights, and serve a
model as a local OpenAI-shaped API."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from ophis.cli.output import emit_json, fail, progress_bar, stdout
from ophis.core.errors import OphisError

# (ophis.cli.remote is imported where needed: it brings the HTTP client, which the local
# commands -- list, remove, convert, quantize -- must not load)
JSON = typer.Option(False, "--json", help="Print JSON.")

SERVER = typer.Option(
    None,
    "--server",
    "-s",
    "--channel-url",
    envvar="OPHIS_SERVER",
    help="A server you logged in to, by name or URL (default: the last one).",
)
TOKEN = typer.Option(
    None,
    "--token",
    "-t",
    envvar="OPHIS_MODEL_TOKEN",
    help="An API token for private models (default: the one `ophis login` stored).",
)
QUANTIZATION = typer.Option(
    None, "--quantization", "-q", help="The quantization method: Q8_0, F16, F32, Q4_0, ..."
)


def register(group: typer.Typer) -> None:
    """The user's-machine commands of the ``model`` group."""
    group.command("search")(search)
    group.command("pull")(pull)
    group.command("list")(list_)
    group.command("remove")(remove)
    group.command("convert")(convert)
    group.command("quantize")(quantize)
    group.command("serve")(serve)


@contextmanager
def _catalog(server: str | None, token: str | None, as_json: bool) -> Iterator[Any]:
    from ophis.models.pull import catalog_client

    try:
        with catalog_client(os.environ, server, token) as api:
            yield api
    except OphisError as error:
        fail(error, as_json)


def _cache() -> Any:
    from ophis.models.cache import ModelCache, models_dir

    return ModelCache(models_dir())


def say(message: str) -> None:
    stdout.print(message, highlight=False, markup=False, soft_wrap=True)


def _table(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    from ophis.cli.remote import show_table

    show_table(rows, columns, as_json)


def search(
    query: str = typer.Argument("", help="Words in the model's name or summary."),
    task: str = typer.Option(None, "--task", help="embedding, text-generation, ..."),
    quantization: str = QUANTIZATION,
    min_parameters: int = typer.Option(None, "--min-parameters", help="At least this many."),
    max_parameters: int = typer.Option(None, "--max-parameters", help="At most this many."),
    server: str = SERVER,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Search a server's model catalog."""
    from ophis.models.pull import search_models

    with _catalog(server, token, as_json) as api:
        rows = search_models(
            api,
            q=query,
            task=task,
            quantization=quantization,
            min_parameters=min_parameters,
            max_parameters=max_parameters,
        )
    for row in rows:
        row["model"] = f"{row.get('owner')}/{row.get('name')}"
    columns = ["model", "task", "architecture", "parameters", "quantizations", "summary"]
    _table(rows, columns, as_json)


def pull(
    model: str = typer.Argument(..., help="OWNER/NAME"),
    quantization: str = QUANTIZATION,
    version: str = typer.Option(None, "--version", help="A version (default: the latest)."),
    server: str = SERVER,
    token: str = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Download one variant of a model into the local model cache.

    Resumable: an interrupted pull continues where it stopped. The file's size and sha256
    are checked against the catalog before it enters the cache."""
    from ophis.models.pull import pull_model

    with (
        _catalog(server, token, as_json) as api,
        progress_bar(f"Pulling {model}", not as_json, bytes_stage="bytes") as display,
    ):
        pulled = pull_model(
            api,
            _cache(),
            model,
            quantization,
            version,
            progress=lambda done, total: display("bytes", done, total),
        )
    if as_json:
        emit_json(asdict(pulled))
    else:
        say(
            f"Pulled {pulled.model} {pulled.version} ({pulled.quantization}, "
            f"{pulled.size} bytes) into {pulled.path}"
        )


def list_(as_json: bool = JSON) -> None:
    """The models in the local cache."""
    rows = _cache().entries()
    _table(rows, ["model", "version", "quantization", "size", "parameters", "path"], as_json)


def remove(
    model: str = typer.Argument(..., help="OWNER/NAME"),
    quantization: str = typer.Option(
        None, "--quantization", "-q", help="Only this variant (default: every one)."
    ),
    as_json: bool = JSON,
) -> None:
    """Remove a model's pulled files from the local cache."""
    try:
        removed = _cache().remove(model, quantization)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({"removed": removed, "success": True})
    else:
        for path in removed:
            say(f"Removed {path}")


def convert(
    model_dir: Path = typer.Argument(..., help="A sentence-transformers BERT model directory."),
    output: Path = typer.Option(..., "--output", "-o", help="The GGUF file to write."),
    name: str = typer.Option(None, "--name", help="The model's name in the file."),
    as_json: bool = JSON,
) -> None:
    """Convert a BERT-family model directory into GGUF F32.

    The directory is a sentence-transformers model as Hugging Face saves it: config.json,
    model.safetensors, its WordPiece tokenizer and its pooling. GGUF is what llama.cpp
    runs."""
    from ophis.models.convert import convert_bert

    try:
        converted = convert_bert(model_dir, output, name)
    except OphisError as error:
        fail(error, as_json)
    facts = {**asdict(converted), "path": str(converted.path), "quantization": "F32"}
    if as_json:
        emit_json(facts)
    else:
        say(f"Wrote {output}: {converted.architecture}, {converted.parameters} parameters, F32")


def quantize(
    source: Path = typer.Argument(..., help="A GGUF model file."),
    method: str = typer.Option(
        ..., "--method", "-m", help="Q8_0, F16, BF16, Q5_1, Q5_0, Q4_1, Q4_0 or F32."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="The GGUF file to write."),
    as_json: bool = JSON,
) -> None:
    """Write a GGUF model with its weight matrices quantized.

    Norms, biases and the position and token-type embeddings stay F32, as llama.cpp keeps
    them; a matrix whose rows do not split into the method's blocks is written F16."""
    from ophis.models.quantize import quantize_gguf

    try:
        quantized = quantize_gguf(source, output, method)
    except OphisError as error:
        fail(error, as_json)
    if as_json:
        emit_json({**asdict(quantized), "path": str(quantized.path)})
    else:
        say(f"Wrote {output}: {quantized.method}, {quantized.size} bytes")


def serve(
    model: str = typer.Argument(..., help="OWNER/NAME from the model cache, or a .gguf file."),
    quantization: str = QUANTIZATION,
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (default: a free one)."),
    token: str = typer.Option(
        None,
        "--token",
        envvar="OPHIS_SERVE_TOKEN",
        help="The API key clients must send (default: a new random one, printed).",
    ),
    threads: int = typer.Option(None, "--threads", help="CPU threads for llama.cpp."),
    as_json: bool = JSON,
) -> None:
    """Serve a model as a local OpenAI-shaped REST API on 127.0.0.1.

    /v1/models, /v1/embeddings (embedding models) and /v1/chat/completions (text
    generation), run by llama.cpp, behind a bearer token."""
    from ophis.cli.commands.navigator import _bind
    from ophis.models.serve import HOST, load_engine, new_token, run

    try:
        path, model_id = _serve_target(model, quantization)
        engine = load_engine(path, model_id, threads)
        sock = _bind(port)
    except OphisError as error:
        fail(error, as_json)
    token = token or new_token()
    url = f"http://{HOST}:{sock.getsockname()[1]}/v1"
    facts = {
        "url": url,
        "model": model_id,
        "path": str(path),
        "token": token,
        "embedding": engine.embedding,
    }
    if as_json:  # one line, before serving: a script reads it while the server runs
        sys.stdout.write(json.dumps(facts) + "\n")
    else:
        kind = "embeddings" if engine.embedding else "chat completions"
        typer.echo(
            f"Serving {model_id} ({kind}) at\n\n    {url}\n\nAPI key (send "
            f"'Authorization: Bearer KEY'):\n\n    {token}\n\nStop it with Ctrl+C."
        )
    sys.stdout.flush()
    run(engine, token, sock)


def _serve_target(model: str, quantization: str | None) -> tuple[Path, str]:
    """A .gguf path as given, else the cached file of OWNER/NAME."""
    candidate = Path(model)
    if model.endswith(".gguf") or candidate.is_file():
        if not candidate.is_file():
            raise OphisError(f"{model} does not exist.", "Give a .gguf file or OWNER/NAME.")
        return candidate, candidate.stem
    entry = _cache().find(model, quantization)
    return Path(entry["path"]), entry["model"]
