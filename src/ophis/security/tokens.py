"""API tokens: random, conda-safe, stored only as a hash.

The alphabet is ``[A-Za-z0-9]`` plus ``-`` as a separator, because conda only recognises a
``/t/<token>/`` path segment made of ``[A-Za-z0-9-]``. Tokens carry 238 bits of randomness,
so a plain SHA-256 (not a slow KDF, which is for guessable passwords) is the right hash:
lookups stay one indexed query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

from ophis.core.redaction import TOKEN_PREFIX as PREFIX

_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 40
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,200}$")


def generate_token() -> str:
    return f"{PREFIX}-" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_PATTERN.match(text))
