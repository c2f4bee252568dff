"""``ophis build --upload <server URL>/<owner>``: the tested packages onto a channel server,
through the same client and credentials as ``ophis upload``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ophis.builder.engine import BuiltPackage
from ophis.builder.errors import BuildError
from ophis.client.api import ApiClient
from ophis.client.credentials import ClientConfig, api_url, token_for
from ophis.client.upload import SKIP, UploadOptions, describe, upload_files


def split_target(target: str) -> tuple[str, str]:
    """``https://host/alice`` -> (``https://host``, ``alice``)."""
    root, _, owner = target.rstrip("/").rpartition("/")
    if not root or "://" not in root or not owner:
        raise BuildError(
            f"--upload {target} names no channel on a server.",
            "Write the server's URL and the owner: --upload https://host/alice.",
        )
    return root, owner


def upload_built(
    packages: Sequence[BuiltPackage], target: str, token: str | None, labels: Sequence[str]
) -> list[dict[str, Any]]:
    """Upload ``packages`` (only tested ones reach here) to ``target``; what was sent."""
    root, owner = split_target(target)
    url = api_url(root)
    if token is None:
        token = token_for(ClientConfig.load(os.environ).resolve(url), os.environ)
    dists = [describe(Path(p.path)) for p in packages]
    # a rebuild of the same file is not an error: same sha256 is "exists"; other contents
    # under the same name are kept as the server has them, as conda-build's uploads do
    options = UploadOptions(tuple(labels), SKIP)
    with ApiClient(url, token) as api:
        report = upload_files(api, dists, owner, options)
    if report.failed:
        path, error = report.failed[0]
        raise BuildError(f"Uploading {path.name} failed: {error.message}", error.remedy)
    return [
        {
            "basename": item.distribution.basename,
            "owner": item.owner,
            "status": item.status,
            "labels": item.file.get("labels"),
        }
        for item in report.done
    ]
