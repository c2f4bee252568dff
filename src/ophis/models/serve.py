"""A local REST API in the OpenAI shape over one GGUF model, run by llama.cpp through
llama-cpp-python: ``GET /v1/models``, ``POST /v1/embeddings`` and, for a text-generation
model, ``POST /v1/chat/completions``. Every request needs ``Authorization: Bearer
<token>``; the server listens on 127.0.0.1 only.

llama.cpp does the inference; this module only shapes requests and answers (the answers
are llama-cpp-python's own, which already follow OpenAI's schema).
"""

from __future__ import annotations

import hmac
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ophis.core.errors import OphisError
from ophis.core.model_files import EMBEDDING, GGUF, ModelFacts, read_model_file

HOST = "127.0.0.1"
#: request bodies are read no further than this
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_INPUTS = 512


class ServeError(OphisError):
    exception_name = "ServeError"


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Engine:
    """One loaded model; llama.cpp's context is not thread-safe, so calls take turns."""

    model_id: str
    embedding: bool
    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: int = field(default_factory=lambda: int(time.time()))

    def embed(self, inputs: list[str]) -> dict[str, Any]:
        with self.lock:
            return self.llama.create_embedding(inputs, model=self.model_id)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        allowed = ("messages", "max_tokens", "temperature", "top_p", "stop", "seed")
        with self.lock:
            answer = self.llama.create_chat_completion(
                **{key: body[key] for key in allowed if key in body}
            )
        return {**answer, "model": self.model_id}


def read_facts(path: Path) -> ModelFacts:
    """What the GGUF file's header says (read with limits: a hostile header is refused
    before llama.cpp sees the file)."""
    try:
        with path.open("rb") as stream:
            return read_model_file(stream, path.stat().st_size, path.name)
    except OSError as error:
        raise ServeError(f"Cannot read {path}: {error.strerror}.", "Check the path.") from None


def load_engine(path: Path, model_id: str, threads: int | None = None) -> Engine:
    """``path`` loaded by llama.cpp, for embeddings or chat as the file says."""
    facts = read_facts(path)
    if facts.format != GGUF:
        raise ServeError(f"{path} is not a GGUF file.", "Serve a .gguf model (llama.cpp's format).")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ServeError(
            "Serving a model needs llama-cpp-python, which is not installed.",
            "Install it: pip install llama-cpp-python (Ophis's 'models' extra names it; pip "
            "builds it from source in a few minutes).",
        ) from None
    embedding = facts.task == EMBEDDING
    # an encoder sees each input whole in one batch: the batch holds the longest input
    batch = (facts.context_length or 512) if embedding else 512
    llama = Llama(
        model_path=str(path),
        embedding=embedding,
        n_ctx=0,  # the model's own context length
        n_batch=batch,
        n_ubatch=batch,
        n_threads=threads,
        verbose=False,
    )
    return Engine(model_id=model_id, embedding=embedding, llama=llama)


def create_app(engine: Engine, token: str) -> FastAPI:
    """The FastAPI app serving ``engine`` to holders of ``token``."""
    app = FastAPI(title=f"Ophis model server: {engine.model_id}", docs_url=None, redoc_url=None)
    expected = f"Bearer {token}".encode()

    def error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    def invalid(message: str, status: int = 400) -> JSONResponse:
        return error(status, message, "invalid_request_error")

    @app.exception_handler(_TooLarge)
    async def too_large(request: Request, failure: _TooLarge) -> JSONResponse:
        return invalid(f"The request is over {MAX_REQUEST_BYTES} bytes.", 413)

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return error(
                401,
                "Missing or wrong API key: send 'Authorization: Bearer <token>' with the "
                "token `ophis model serve` printed.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return await call_next(request)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        owner = engine.model_id.split("/")[0] if "/" in engine.model_id else "local"
        return {
            "object": "list",
            "data": [
                {
                    "id": engine.model_id,
                    "object": "model",
                    "created": engine.created,
                    "owned_by": owner,
                }
            ],
        }

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await _json_body(request)
        if not engine.embedding:
            return invalid(f"{engine.model_id} is not an embedding model.")
        inputs = body.get("input") if isinstance(body, dict) else None
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(item, str) for item in inputs)
        ):
            return invalid("'input' must be a string or a list of strings.")
        if len(inputs) > MAX_INPUTS:
            return invalid(f"At most {MAX_INPUTS} inputs per request.")
        try:
            return await _in_thread(engine.embed, inputs)
        except ValueError as failure:  # llama.cpp: an input longer than the context
            return invalid(str(failure))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await _json_body(request)
        if engine.embedding:
            return invalid(f"{engine.model_id} is an embedding model: use /v1/embeddings.")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return invalid("'messages' must be a list.")
        if body.get("stream"):
            return invalid("Streaming is not supported; leave 'stream' unset.")
        try:
            return await _in_thread(engine.chat, body)
        except (ValueError, TypeError) as failure:
            return invalid(str(failure))

    return app


class _TooLarge(Exception):
    """A request body over MAX_REQUEST_BYTES (sent without a Content-Length)."""


async def _json_body(request: Request) -> Any:
    """The JSON body, read no further than MAX_REQUEST_BYTES; None when it is not JSON."""
    body, length = bytearray(), 0
    async for chunk in request.stream():
        length += len(chunk)
        if length <= MAX_REQUEST_BYTES:
            body += chunk
        # past the limit the rest is read and dropped, so that the client reads the answer
    if length > MAX_REQUEST_BYTES:
        raise _TooLarge
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _in_thread(function: Any, *args: Any) -> Any:
    return await run_in_threadpool(function, *args)


def run(engine: Engine, token: str, sock: socket.socket) -> None:
    """Serve until interrupted on ``sock`` (bound to 127.0.0.1 by the caller)."""
    import uvicorn

    config = uvicorn.Config(create_app(engine, token), log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
