"""A keyring backend for tests: a JSON file at ``$OPHIS_TEST_KEYRING`` (the real ones need a
desktop session). Select it with ``PYTHON_KEYRING_BACKEND`` set to
``ophis.testing.keyring.JsonKeyring``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class JsonKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["OPHIS_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        return json.loads(self._path.read_text()) if self._path.is_file() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service} {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._path.write_text(json.dumps({**self._load(), f"{service} {username}": password}))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service} {username}", None) is None:
            raise PasswordDeleteError(username)
        self._path.write_text(json.dumps(entries))
