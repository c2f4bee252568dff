"""The Models page's work: the models in the local cache, pulling one from a channel server,
and serving one as a local OpenAI-shaped API (``ophis model serve`` in a process of its
own, stopped from the page)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ophis.core.errors import OphisError
from ophis.models.cache import ModelCache, models_dir
from ophis.models.serve import new_token

#: seconds a model may take to load before the page gives up on it
START_TIMEOUT = 120.0


@dataclass
class ServedModel:
    model: str
    quantization: str
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def running(self) -> bool:
        return self.process.poll() is None  # also reaps it

    def stop(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cache(environ: dict[str, str]) -> ModelCache:
    return ModelCache(models_dir(environ))


def pull(
    environ: dict[str, str], model: str, quantization: str, server: str, token: str
) -> dict[str, Any]:
    """Pull as ``ophis model pull`` would, with the user's logins."""
    from dataclasses import asdict

    from ophis.models.pull import catalog_client, pull_model

    with catalog_client(environ, server, token or None) as api:
        return asdict(pull_model(api, cache(environ), model, quantization or None))


def serve(environ: dict[str, str], model: str, quantization: str, log_dir: Path) -> ServedModel:
    """Start ``ophis model serve`` for a cached model; returns once it answers."""
    entry = cache(environ).find(model, quantization or None)
    token = new_token()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"model-serve-{int(time.time())}.log"
    command = [sys.executable, "-m", "ophis", "model", "serve", entry["model"], "--json"]
    command += ["--quantization", str(entry["quantization"])]
    with log.open("ab") as errors:
        process = subprocess.Popen(
            command,
            env={**environ, "OPHIS_SERVE_TOKEN": token},  # not on the command line: ps shows it
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
    line = _first_line(process)
    try:
        url = str(json.loads(line)["url"])
    except (ValueError, KeyError, TypeError):
        raise _failure(process, line, model, log) from None
    return ServedModel(entry["model"], str(entry["quantization"]), url, token, process, log)


def _failure(process: subprocess.Popen[bytes], line: str, model: str, log: Path) -> OphisError:
    """What ``ophis model serve`` said when it ended instead of serving (its --json error
    document), as an error the page shows."""
    process.kill()
    rest = process.communicate()[0].decode(errors="replace")
    try:
        said = json.loads(line + rest)
        return OphisError(f"Serving {model} failed: {said['message']}", str(said["remedy"]))
    except (ValueError, KeyError, TypeError):
        return OphisError(
            f"Serving {model} failed: {(line + rest).strip()[:300] or 'no answer'}",
            f"See {log} for what the model server said.",
        )


def _first_line(process: subprocess.Popen[bytes]) -> str:
    """The first line the server prints (its URL, once the model is loaded), or ''."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if selector.select(START_TIMEOUT):
            return process.stdout.readline().decode(errors="replace")
        return ""
    finally:
        selector.close()
