"""Model files as uploads (``ophis model upload``): each checked here with the header reader
the server uses (:mod:`ophis.core.model_files`), then sent by the package upload protocol
(:mod:`ophis.client.upload`) as a variant of the release ``name``/``version``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ophis.client.upload import Distribution
from ophis.core.model_files import ModelFacts, read_model_file
from ophis.core.package_file import file_digests

MODEL = "model"


@dataclass(frozen=True)
class ModelCard:
    """What the uploader says about the model; the rest is read from its files."""

    name: str
    version: str
    summary: str = ""
    #: "" lets the weights (or the server's default) decide
    task: str = ""
    #: used when a file names no license of its own
    license: str = ""


def describe_model(path: Path, card: ModelCard) -> tuple[Distribution, ModelFacts]:
    """Check ``path``'s header (raises InvalidPackageError naming what is wrong) and
    describe it as an upload; also what its header says."""
    with path.open("rb") as stream:
        facts = read_model_file(stream, path.stat().st_size, path.name, declared_task=card.task)
    size, md5, sha256 = file_digests(path)
    declared = {"task": card.task, "license": card.license}
    dist = Distribution(
        path=path,
        name=card.name,
        version=card.version,
        basename=f"{card.name}/{card.version}/{path.name}",  # the server's model_basename
        distribution_type=MODEL,
        summary=card.summary,
        attrs={key: value for key, value in declared.items() if value},
        size=size,
        md5=md5,
        sha256=sha256,
    )
    return dist, facts
