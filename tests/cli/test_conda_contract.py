"""The ``--json`` contract with conda: a script written for ``conda ... --json`` reads the
same documents from ``ophis``.

One table of cases, each a command run as a user against local channels, with the shape
conda gives it (transcribed from conda's ``cli/install.py``, ``core/link.py``,
``exceptions.py`` and its tests): the keys in conda's order, the actions, the error's
name and fields. Two classes: ``transaction`` (what create/install/update/remove/env print)
and ``error`` (conda's error document). Every command prints exactly one JSON document,
or none where conda prints none (explicit installs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ophis.core.platform import detect_machine_facts, native_subdir
from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package

#: the environment's python: answers "pip install" as pip does, fails for "broken"
FAKE_PYTHON = b"""#!/bin/sh
case "$(cat "$6")" in *broken*) echo 'ERROR: no such package' >&2; exit 1;; esac
echo 'Successfully installed demo-1.0'
"""
ERROR_KEYS = {"caused_by", "error", "exception_name", "exception_type", "message"}
#: keys Ophis adds after conda's (a parser reading conda's keys does not see them)
OPHIS_KEYS = {"link_scripts", "link_scripts_unchecked", "messages"}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  #: "transaction" | "error"
    argv: tuple[str, ...]  #: {chan}, {env}, {new}, {file}, {http} ... are filled in
    exit_code: int = 0
    keys: tuple[str, ...] = ()  #: the document's keys, in order
    actions: tuple[str, ...] = ()  #: the keys of "actions", in order
    link: tuple[str, ...] | None = None  #: LINK names, in order
    unlink: tuple[str, ...] | None = None
    fetch: tuple[str, ...] | None = None  #: FETCH names, in order
    error: str | None = None  #: exception_name
    fields: dict[str, Any] = field(default_factory=dict)  #: error fields, exactly
    in_message: str = ""
    condarc: str = ""
    env_file: str = ""
    silent: bool = False  #: conda prints nothing on stdout


CH = ("--override-channels", "-c", "{chan}")
CASES = [
    # --- transaction documents ---------------------------------------------------------
    Case(
        "create-dry-run",
        "transaction",
        ("create", "-p", "{new}", *CH, "aaa", "lonely", "--dry-run"),
        keys=("success", "actions", "prefix", "dry_run"),
        actions=("FETCH", "PREFIX", "LINK"),
        # nothing depends on lonely and it depends on nothing: first; python before pip
        link=("lonely", "python", "pip", "zzz", "aaa"),
        fetch=("python", "pip", "zzz", "aaa"),  # lonely is in the package cache already
    ),
    Case(
        "create",
        "transaction",
        ("create", "-p", "{new}", *CH, "up=1.0", "-y"),
        keys=("success", "actions", "prefix"),
        actions=("FETCH", "PREFIX", "LINK"),
        link=("up",),
    ),
    Case(
        "install-nothing-to-do",
        "transaction",
        ("install", "-p", "{env}", *CH, "lonely"),
        keys=("success", "message"),
    ),
    Case(
        "remove-dry-run",
        "transaction",
        ("remove", "-p", "{env}", "lonely", "--dry-run"),
        keys=("success", "actions", "prefix", "dry_run"),
        actions=("FETCH", "PREFIX", "UNLINK"),
        unlink=("lonely",),
        fetch=(),
    ),
    Case(
        "update-dry-run",
        "transaction",
        ("update", "-p", "{env}", *CH, "up", "--dry-run"),
        keys=("success", "actions", "prefix", "dry_run"),
        actions=("FETCH", "PREFIX", "UNLINK", "LINK"),
        unlink=("up",),
        link=("up",),
    ),
    Case(
        "install-real",
        "transaction",
        ("install", "-p", "{copy}", *CH, "c=2.0", "-y"),
        keys=("success", "actions", "prefix"),
        actions=("FETCH", "PREFIX", "UNLINK", "LINK"),
        unlink=("c",),
        link=("c",),
    ),
    Case(
        "clone",
        "transaction",
        ("create", "-p", "{new}", "--clone", "{env}"),
        keys=("success", "actions", "untracked_files", "src_prefix", "dst_prefix"),
        actions=("FETCH", "PREFIX", "LINK"),
    ),
    Case(
        "explicit-file",
        "transaction",
        ("create", "-p", "{new}", "--file", "{explicit}"),
        silent=True,
    ),
    Case(
        "package-url",
        "transaction",
        ("create", "-p", "{new}", "{chan}/noarch/lonely-1.0-0.tar.bz2"),
        silent=True,
    ),
    Case(
        "env-create-with-pip",
        "transaction",
        ("env", "create", "-p", "{new}", "-f", "{file}"),
        keys=("success", "actions", "prefix"),
        actions=("FETCH", "PREFIX", "LINK", "PIP"),
        link=("python", "pip"),
        env_file="dependencies:\n  - pip\n  - pip:\n    - demo\n",
    ),
    Case(
        "env-update-prune",
        "transaction",
        ("env", "update", "-p", "{copy}", "-f", "{file}", "--prune"),
        keys=("success", "actions", "prefix"),
        actions=("FETCH", "PREFIX", "UNLINK", "LINK"),
        unlink=("lonely", "c"),
        link=("tool",),
        env_file="dependencies: [tool, up=1.0]\n",
    ),
    Case(
        "env-remove",
        "transaction",
        ("env", "remove", "-p", "{copy}"),
        keys=("success", "actions", "prefix"),
        actions=("FETCH", "PREFIX", "UNLINK"),
    ),
    # --- error documents ----------------------------------------------------------------
    Case(
        "unknown-package",
        "error",
        ("create", "-p", "{new}", *CH, "nosuch", "--dry-run"),
        exit_code=1,
        error="PackagesNotFoundInChannelsError",
        fields={"packages": ["nosuch"], "channel_urls": ["{chan}/{subdir}", "{chan}/noarch"]},
    ),
    Case(
        "missing-dependency",
        "error",
        ("create", "-p", "{new}", *CH, "d", "--dry-run"),
        exit_code=1,
        error="PackagesNotFoundInChannelsError",
        fields={"packages": ["nothere"]},
    ),
    Case(
        "remove-not-installed",
        "error",
        ("remove", "-p", "{env}", "nope"),
        exit_code=1,
        error="PackagesNotFoundInPrefixError",
        fields={"package_name": ["nope"], "prefix": "{env}"},
    ),
    Case(
        "update-not-installed",
        "error",
        ("update", "-p", "{env}", *CH, "b"),
        exit_code=1,
        error="PackageNotInstalledError",
        fields={"package_name": "b", "prefix": "{env}"},
    ),
    Case(
        "pinned-conflict",
        "error",
        ("install", "-p", "{env}", *CH, "up>=2", "--dry-run"),
        exit_code=1,
        error="SpecsConfigurationConflictError",
        fields={"requested_specs": ["up[version='>=2']"], "pinned_specs": ["up[version='<2']"]},
        condarc="pinned_packages: ['up<2']\n",
    ),
    Case(
        "conflict",
        "error",
        ("create", "-p", "{new}", *CH, "a", "b", "--dry-run"),
        exit_code=1,
        error="UnsatisfiableError",
        fields={"unsatisfiable": [["a", "c[version='<2']"], ["b", "c[version='>=2']"]]},
        in_message="Package c conflicts for:\na -> c[version='<2']\nb -> c[version='>=2']",
    ),
    Case(
        "missing-file-channel",
        "error",
        ("create", "-p", "{new}", "--override-channels", "-c", "{chan}-gone", "x", "--dry-run"),
        exit_code=1,
        error="UnavailableInvalidChannel",
        fields={"status_code": 404, "channel_url": "{chan}-gone"},
    ),
    Case(
        "http-channel-404",
        "error",
        ("create", "-p", "{new}", "--override-channels", "-c", "{http}/gone", "x", "--dry-run"),
        exit_code=1,
        error="UnavailableInvalidChannel",
        fields={"status_code": 404, "reason": "NOT FOUND", "channel_url": "{http}/gone"},
    ),
    Case(
        "http-channel-401",
        "error",
        ("create", "-p", "{new}", "--override-channels", "-c", "{locked}/c", "x", "--dry-run"),
        exit_code=1,
        error="CondaHTTPError",
        fields={"status_code": 401},
    ),
    Case(
        "no-environment-there",
        "error",
        ("install", "-p", "{new}", *CH, "lonely"),
        exit_code=1,
        error="EnvironmentLocationNotFound",
        fields={"location": "{new}"},
        in_message="Not a conda environment: ",
    ),
    Case(
        "no-environment-named",
        "error",
        ("install", "-n", "nosuchenv", *CH, "lonely"),
        exit_code=1,
        error="EnvironmentNameNotFound",
        fields={"environment_name": "nosuchenv"},
    ),
    Case(
        "update-nothing-named",
        "error",
        ("update", "-p", "{env}"),
        exit_code=1,
        error="CondaValueError",
    ),
    Case(
        "env-create-pip-fails",
        "error",
        ("env", "create", "-p", "{new}", "-f", "{file}"),
        exit_code=1,
        error="CondaEnvException",
        env_file="dependencies:\n  - pip\n  - pip:\n    - broken\n",
    ),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A channel, a user, an installed environment, and two HTTP servers (one empty, one
    asking for a token), shared by every case."""
    root = tmp_path_factory.mktemp("contract")
    chan = root / "chan"
    noarch = chan / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "python", "3.12.0", files={"bin/python": FAKE_PYTHON})
    make_package(noarch, "pip", "24.0", depends=["python"])
    make_package(noarch, "zzz", depends=["python"])
    make_package(noarch, "aaa", depends=["zzz"])
    make_package(noarch, "lonely")
    make_package(noarch, "tool")
    make_package(noarch, "a", depends=["c <2"])
    make_package(noarch, "b", depends=["c >=2"])
    make_package(noarch, "c", "1.0")
    make_package(noarch, "c", "2.0")
    make_package(noarch, "d", depends=["nothere"])
    make_package(noarch, "up", "1.0")
    make_package(noarch, "up", "2.0")
    index_channel(chan)
    user = isolated_user(root / "user")
    env = root / "env"
    made = ophis(user, "create", "-p", str(env), *_fill(CH, {"chan": chan.as_uri()}), "lonely",
                 "c=1.0", "up=1.0", "--json", "-y")  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    (root / "empty").mkdir()
    with serve_directory(root / "empty") as http, serve_directory(chan, token="tok") as locked:
        yield {
            "root": root,
            "user": user,
            "chan": chan.as_uri(),
            "env": str(env),
            "http": http.url,
            "locked": locked.url,
        }


def _fill(values: tuple[str, ...], names: dict[str, str]) -> list[str]:
    return [v.format(**names) for v in values]


def _fill_fields(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_fill_fields(v, names) for v in value]
    return value


def _names(world: dict[str, Any], case: Case, tmp_path: Path) -> dict[str, str]:
    names = {k: str(v) for k, v in world.items() if isinstance(v, (str, Path))}
    names["new"] = str(tmp_path / "new")
    names["subdir"] = native_subdir(detect_machine_facts())
    if "{copy}" in case.argv:  # a case that changes the environment gets its own copy
        names["copy"] = str(tmp_path / "copy")
        copied = ophis(world["user"], "create", "-p", names["copy"], "--clone", world["env"])
        assert copied.returncode == 0, copied.stderr
    if case.env_file:
        names["file"] = str(tmp_path / "environment.yml")
        Path(names["file"]).write_text(f"channels: [{world['chan']}]\n{case.env_file}")
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(f"@EXPLICIT\n{world['chan']}/noarch/lonely-1.0-0.tar.bz2\n")
    names["explicit"] = str(explicit)
    return names


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.id}" for c in CASES])
def test_conda_contract(case: Case, world: dict[str, Any], tmp_path: Path) -> None:
    names = _names(world, case, tmp_path)
    user = dict(world["user"])
    if case.condarc:
        (tmp_path / ".condarc").write_text(case.condarc)
        user["CONDARC"] = str(tmp_path / ".condarc")
    result = ophis(user, *_fill(case.argv, names), "--json")
    assert result.returncode == case.exit_code, result.stdout + result.stderr
    if case.silent:
        assert result.stdout == ""
        assert (Path(names["new"]) / "conda-meta" / "lonely-1.0-0.json").is_file()
        return
    document = json.loads(result.stdout)  # exactly one document: a second one fails here
    if case.kind == "error":
        _check_error(case, document, result.stdout, names)
    else:
        _check_transaction(case, document, names)


def _check_transaction(case: Case, document: dict[str, Any], names: dict[str, str]) -> None:
    conda_keys = [key for key in document if key not in OPHIS_KEYS]
    assert tuple(conda_keys) == case.keys
    assert list(document)[: len(conda_keys)] == conda_keys  # Ophis's own keys come last
    assert document["success"] is True
    if "message" in case.keys:
        assert document["message"] == "All requested packages already installed."
    if not case.actions:
        return
    actions = document["actions"]
    assert tuple(actions) == case.actions
    target = names["new"] if "{new}" in case.argv else names.get("copy", names["env"])
    assert actions["PREFIX"] == document.get("prefix", document.get("dst_prefix")) == target
    for key, expected in (("LINK", case.link), ("UNLINK", case.unlink), ("FETCH", case.fetch)):
        if expected is not None:
            assert tuple(a["name"] for a in actions.get(key, [])) == expected, key
    for record in actions.get("FETCH", []):  # conda's PackageRecord.dump(), in its order
        assert list(record)[:7] == ["name", "version", "build", "build_number", "channel",
                                    "subdir", "fn"]  # fmt: skip
        assert record["url"] == f"{record['channel']}/{record['fn']}"
        assert record["md5"] and record["sha256"] and record["size"] > 0
    for dist in actions.get("LINK", []) + actions.get("UNLINK", []):
        assert list(dist) == ["base_url", "build_number", "build_string", "channel",
                              "dist_name", "name", "platform", "version"]  # fmt: skip
    if "PIP" in case.actions:
        assert actions["PIP"] == ["demo-1.0"]


def _check_error(case: Case, document: dict[str, Any], text: str, names: dict[str, str]) -> None:
    assert set(document) >= ERROR_KEYS
    assert list(document) == sorted(document)  # conda sorts the keys of its errors
    assert document["exception_name"] == case.error
    assert document["exception_type"] == f"<class 'conda.exceptions.{case.error}'>"
    assert document["error"] == f"{case.error}: {document['message']}"
    assert document["caused_by"] == "None"
    for key, expected in case.fields.items():
        assert document[key] == _fill_fields(expected, names), key
    assert case.in_message in document["message"]
