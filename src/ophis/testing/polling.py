"""Waiting in tests for what a server does in the background: a condition that comes true,
or a check that comes to pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def wait_for(condition: Callable[[], bool], seconds: float = 5, interval: float = 0.05) -> bool:
    """Whether ``condition()`` comes true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    """What ``check()`` returns once it stops failing (an assertion, an HTTP error, or a
    response other than 200); its last failure after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if not isinstance(result, httpx.Response) or result.status_code == 200:
                return result
        except (AssertionError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"still failing after {timeout} s: {result}")
        time.sleep(0.3)
