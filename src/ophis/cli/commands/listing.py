"""``ophis list``: what an environment has."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from ophis import __version__
from ophis.cli.declared import declared
from ophis.cli.output import emit_json, fail, stdout, warn, write
from ophis.cli.sizes import human_bytes
from ophis.core.errors import CondaValueError, OphisError, PackageNotInstalledError
from ophis.manager.config import load_config_from_os
from ophis.manager.history import Revision, pretty_lines, revision_event, revision_log
from ophis.manager.installed import InstalledRecord, read_records
from ophis.manager.pip_interop import PipPackage, pip_packages
from ophis.manager.prefix import PrefixData
from ophis.manager.records import base_url, channel_name, dist_fields
from ophis.manager.targets import ChangeRequest, channels_for, existing_prefix

if TYPE_CHECKING:
    import rattler
    import typer

#: an installed record (py-rattler's, or read from its JSON) or a pip package
Listed: TypeAlias = "rattler.PrefixRecord | InstalledRecord | PipPackage"

#: conda's ``CONDA_LIST_FIELDS``: column -> its title
LIST_FIELDS = {
    "arch": "Arch",
    "build": "Build",
    "build_number": "Build number",
    "channel": "Channel URL",
    "channel_name": "Channel",
    "constrains": "Constraints",
    "depends": "Dependencies",
    "dist_str": "Dist",
    "features": "Features",
    "fn": "Filename",
    "license": "License",
    "license_family": "License family",
    "md5": "MD5",
    "name": "Name",
    "noarch": "Noarch",
    "package_type": "Package type",
    "requested_spec": "Requested",
    "requested_specs": "Requested",
    "sha256": "SHA256",
    "size": "Size",
    "subdir": "Subdir",
    "timestamp": "Timestamp",
    "track_features": "Track features",
    "url": "URL",
    "version": "Version",
}
DEFAULT_FIELDS = ("name", "version", "build", "channel_name")
EXPORT_HEADER = (
    "# This file may be used to create an environment using:\n"
    "# $ ophis create --name <env> --file <this file>\n"
    "# platform: {subdir}\n"
    "# created-by: ophis {version}"
)


def register(app: typer.Typer) -> None:
    import typer

    from ophis.cli.options import JSON, NAME, PREFIX

    option = typer.Option
    command = declared(
        list_packages,
        regex=typer.Argument(None, help="Only packages whose name matches this regex."),
        name=NAME,
        prefix=PREFIX,
        full_name=option(False, "--full-name", "-f", help="Match the whole name."),
        explicit=option(False, "--explicit", help="Print an @EXPLICIT spec file."),
        export=option(False, "--export", "-e", help="Print name=version=build lines."),
        canonical=option(
            False, "--canonical", "-c", help="Print channel::name-version-build lines."
        ),
        md5=option(False, "--md5", help="With --explicit: add #md5 to each URL."),
        sha256=option(False, "--sha256", help="With --explicit: add #sha256 to each URL."),
        revisions=option(
            False, "--revisions", "-r", help="Show the environment's history of changes."
        ),
        fields=option(
            None,
            "--fields",
            help="Comma-separated columns: " + ",".join(sorted(LIST_FIELDS)) + ".",
        ),
        size=option(False, "--size", help="Show package and environment sizes."),
        reverse=option(False, "--reverse", help="List in reverse order."),
        no_pip=option(False, "--no-pip", help="Leave out pip-installed packages."),
        show_channel_urls=option(
            None, "--show-channel-urls/--no-show-channel-urls", help="Show the channel column."
        ),
        json_output=JSON,
    )
    app.command("list")(command)


def list_packages(
    regex: str | None = None,
    name: str | None = None,
    prefix: str | None = None,
    full_name: bool = False,
    explicit: bool = False,
    export: bool = False,
    canonical: bool = False,
    md5: bool = False,
    sha256: bool = False,
    revisions: bool = False,
    fields: str | None = None,
    size: bool = False,
    reverse: bool = False,
    no_pip: bool = False,
    show_channel_urls: bool | None = None,
    json_output: bool = False,
) -> None:
    """List the packages installed in an environment."""
    try:
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        if revisions:
            _print_revisions(revision_log(target), json_output)
            return
        if md5 and sha256:
            raise CondaValueError(
                "Only one of --md5 and --sha256 can be specified at the same time",
                "Choose one checksum.",
            )
        columns = _columns(fields, size)
        conda_records, warnings = _installed(target, columns)
        pips = [] if no_pip or explicit else pip_packages(target, conda_records)
        listed = _matching([*conda_records, *pips], regex, full_name, target)
    except OphisError as error:
        fail(error, json_output)
    warn(warnings)
    if reverse:
        listed.reverse()
    channels = [] if not listed else _known_channels(config)
    if json_output:
        emit_json([_json_entry(item, channels, target if size else None) for item in listed])
    elif explicit:
        _print_explicit(
            [r for r in listed if not isinstance(r, PipPackage)], config.subdir, md5, sha256
        )
    elif export or canonical:
        if export:
            _print_lines(EXPORT_HEADER.format(subdir=config.subdir, version=__version__))
        _print_lines(
            "\n".join(_canonical(item, channels) if canonical else _spec(item) for item in listed)
        )
    else:
        shown = config.show_channel_urls if show_channel_urls is None else show_channel_urls
        _print_table(target, listed, columns, channels, shown, size)


#: the columns whose values a record read from its JSON gives as py-rattler does
JSON_COLUMNS = frozenset(DEFAULT_FIELDS) | {
    "build_number", "channel", "constrains", "depends", "dist_str", "fn", "license",
    "license_family", "md5", "sha256", "size", "subdir", "url",
}  # fmt: skip


def _installed(target: Path, columns: list[str]) -> tuple[list, list[str]]:
    """The environment's records and the warnings about the ones skipped: read from their
    JSON when that gives what is printed, else by py-rattler (PrefixData)."""
    if JSON_COLUMNS.issuperset(columns):
        records = read_records(target)
        if records is not None:
            return records, []
    data = PrefixData(target)
    return list(data.records().values()), data.warnings


def _columns(fields: str | None, size: bool) -> list[str]:
    columns = (
        [f.strip() for f in fields.split(",") if f.strip()] if fields else list(DEFAULT_FIELDS)
    )
    if size and "size" not in columns:
        columns.append("size")
    invalid = sorted(set(columns) - set(LIST_FIELDS))
    if invalid:
        raise CondaValueError(
            f"Invalid fields passed: {invalid}. Valid options are {list(LIST_FIELDS)}.",
            "Name only the fields listed.",
        )
    return columns


def _name(item: Listed) -> str:
    return item.name if isinstance(item, PipPackage) else item.name.normalized


def _matching(
    items: list[Listed], regex: str | None, full_name: bool, target: Path
) -> list[Listed]:
    """conda's rule: a regex searched case-insensitively; ``--full-name`` one exact name."""
    items = sorted(items, key=lambda item: _name(item).lower())
    if not regex:
        return items
    if full_name:
        found = [item for item in items if _name(item) == regex]
        if not found:
            raise PackageNotInstalledError(
                f"Package is not installed in prefix.\n  prefix: {target}\n  package name: {regex}",
                "List what is installed with 'ophis list'.",
            )
        return found
    try:
        pattern = re.compile(regex, re.IGNORECASE)
    except re.error as error:
        raise CondaValueError(f"Invalid regex {regex!r}: {error}", "Fix the regex.") from None
    found = [item for item in items if pattern.search(_name(item))]
    if not found:
        raise CondaValueError(f"No packages match '{regex}'.", "Try another pattern.")
    return found


def _json_entry(item: Listed, channels: list, sized: Path | None) -> dict:
    entry = item.dist_fields() if isinstance(item, PipPackage) else dist_fields(item, channels)
    if sized is not None:
        entry["size"] = _size(item, sized)
    return entry


def _size(item: Listed, prefix: Path) -> int:
    """conda's ``package_size``: the bytes of the package's files in the environment."""
    if isinstance(item, PipPackage):
        return 0
    total = 0
    for path in item.files:
        try:
            total += (prefix / str(path)).lstat().st_size
        except OSError:
            continue
    return total


def _spec(item: Listed) -> str:
    return f"{_name(item)}={item.version}={item.build}"


def _canonical(item: Listed, channels: list) -> str:
    if isinstance(item, PipPackage):
        return f"{item.channel}/pypi::{item.dist_name}"
    return (
        f"{channel_name(item, channels)}/{item.subdir}::{_name(item)}-{item.version}-{item.build}"
    )


def _field(item: Listed, field: str, channels: list, prefix: Path) -> str:
    if field == "size":
        return human_bytes(_size(item, prefix))
    if isinstance(item, PipPackage):
        values = {**item.dist_fields(), "channel_name": item.channel, "subdir": "pypi"}
        values["channel"] = values["base_url"]
        values["build"] = item.build
        values["dist_str"] = _canonical(item, channels)
        return str(values.get(field, ""))
    special = {
        "name": _name,
        "channel_name": lambda r: channel_name(r, channels),
        "channel": base_url,
        "dist_str": lambda r: _canonical(r, channels),
        "fn": lambda r: r.file_name,
        "md5": lambda r: bytes(r.md5).hex() if r.md5 else "",
        "sha256": lambda r: bytes(r.sha256).hex() if r.sha256 else "",
        "depends": lambda r: ", ".join(map(str, r.depends)),
        "constrains": lambda r: ", ".join(map(str, r.constrains)),
        "features": lambda r: r.features or "",
        "track_features": lambda r: " ".join(map(str, r.track_features)),
        "requested_specs": lambda r: ", ".join(getattr(r, "requested_specs", None) or ()),
    }
    value = special[field](item) if field in special else getattr(item, field, None)
    return "" if value is None else str(value).strip()


def _print_lines(text: str) -> None:
    if text:
        write(text + "\n")  # plain text: Rich would only cost its import


def _known_channels(config) -> list:
    try:
        return channels_for(ChangeRequest("list", Path()), config)
    except OphisError:
        return []


def _print_revisions(revisions: list[Revision], json_output: bool) -> None:
    """conda's ``list --revisions``: ``History.print_log``, or ``object_log`` as JSON."""
    if json_output:
        emit_json([revision_event(r) for r in revisions])
        return
    for revision in revisions:
        lines = [f"{revision.timestamp}  (rev {revision.number})"]
        lines += [f"    {line}" for line in pretty_lines(revision)]
        sys.stdout.write("\n".join(lines) + "\n\n")


def _print_explicit(records, platform: str, md5: bool, sha256: bool) -> None:
    from ophis.manager.explicit import ExplicitPackage, dumps_explicit  # reads package files

    def checksum(r) -> str | None:
        digest = r.md5 if md5 else r.sha256 if sha256 else None
        return bytes(digest).hex() if digest else None

    packages = [ExplicitPackage(str(r.url), md5=checksum(r)) for r in records]
    text = dumps_explicit(packages, platform, checksums=md5 or sha256)
    stdout.print(text.rstrip("\n"), highlight=False, markup=False, soft_wrap=True)


def _print_table(
    target: Path, items: list[Listed], columns: list[str], channels, show_urls, size: bool
) -> None:
    """conda's human ``list``: columns two spaces apart, at least as wide as conda's."""
    titles = [LIST_FIELDS[c] for c in columns]
    rows = [[_field(item, c, channels, target) for c in columns] for item in items]
    if "channel_name" in columns and show_urls is False:
        at = columns.index("channel_name")
        for row in rows:
            row[at] = ""
    if tuple(columns[:4]) == DEFAULT_FIELDS:
        widths = [23, 15, 15, 1] + [len(t) for t in titles[4:]]
    else:
        widths = [len(t) for t in titles]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = [f"# packages in environment at {target}:"]
    if size:
        total = sum(_size(item, target) for item in items)
        lines.append(f"# environment size: {human_bytes(total)}")
    lines += ["#", "# " + "  ".join(f"{t:<{w}}" for t, w in zip(titles, widths, strict=True))]
    widths[0] += 2
    lines += ["  ".join(f"{v:<{w}}" for v, w in zip(row, widths, strict=True)) for row in rows]
    _print_lines("\n".join(line.rstrip() for line in lines))
