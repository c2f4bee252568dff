"""The kinds of distribution a channel holds, by the names the anaconda-client API gives
them (a file's ``distribution_type``, a package's ``package_types``, an OSV ecosystem)."""

from __future__ import annotations

from enum import StrEnum


class DistributionType(StrEnum):
    CONDA = "conda"
    PYPI = "pypi"
    #: a project archive (``ophis project upload``): a template others start from
    PROJECT = "project"
    #: a generic file (``anaconda upload -t file``): any bytes, named by the package and
    #: version the uploader gives, in no channel index
    GENERIC = "file"
    #: a model's weights (GGUF, safetensors): one variant of the release (``ophis model
    #: upload``; a .gguf or .safetensors file uploaded as a generic file is one too)
    MODEL = "model"
