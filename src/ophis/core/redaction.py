"""Keeping secrets out of what is printed, logged or written: tokens in ``/t/<token>/`` path
segments, Ophis tokens anywhere, passwords in ``user:password@`` URLs, and any secret
given by value."""

from __future__ import annotations

import re

#: what every Ophis API token starts with (``oph-...``), so that one is recognised anywhere
TOKEN_PREFIX = "oph"
_PATH_TOKEN = re.compile(r"/t/[^/\s\"']+/")
_OPHIS_TOKEN = re.compile(rf"\b{TOKEN_PREFIX}-[A-Za-z0-9]{{20,}}")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")


def redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<TOKEN>")
    text = _PATH_TOKEN.sub("/t/<TOKEN>/", text)
    text = _URL_PASSWORD.sub(r"\1:*****@", text)
    return _OPHIS_TOKEN.sub("<TOKEN>", text)
