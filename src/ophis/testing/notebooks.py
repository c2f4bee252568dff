"""Talking to a Jupyter kernel over its websocket in tests (the messaging protocol's
``execute_request`` and the ``stream`` answer)."""

from __future__ import annotations

import json
import time
import uuid


def execute_request(msg_id: str, code: str) -> dict[str, object]:
    """A kernel message that runs ``code``."""
    header = {
        "msg_id": msg_id,
        "username": "test",
        "session": uuid.uuid4().hex,
        "msg_type": "execute_request",
        "version": "5.3",
        "date": "",
    }
    return {
        "header": header,
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False},
        "channel": "shell",
        "buffers": [],
    }


def stream_output(socket: object, msg_id: str, timeout: float = 60) -> str:
    """The first output the request ``msg_id`` printed; its error raised."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=timeout))  # type: ignore[attr-defined]
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            return message["content"]["text"]
        if message["msg_type"] == "error":
            raise AssertionError(message["content"])
    raise AssertionError("no output from the kernel")
