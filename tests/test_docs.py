"""The documentation site: it builds with --strict (so a broken link or anchor fails), its
generated references cover every command and every endpoint, every ``OPHIS_*`` variable is
documented, and the README stays a front door that links into the site."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from ophis.cli.main import build_app
from ophis.cli.verbs import VERB_HELP
from ophis.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def build_site(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict``, as a user runs it from the repository root."""
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), environment.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    built = build_site(ROOT / "mkdocs.yml", site)
    assert built.returncode == 0, built.stderr
    return site


def headings(page: Path) -> set[str]:
    return set(re.findall(r'<h[1-6] id="([^"]+)"', page.read_text()))


def test_every_command_and_subcommand_is_in_the_cli_reference(site: Path) -> None:
    """Every verb is registered lazily (ophis.cli.verbs); the reference still has them all,
    each with its options."""
    command = typer.main.get_command(build_app())

    def paths(group: object, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = []
        for name, sub in getattr(group, "commands", {}).items():
            if not sub.hidden:
                found.append((*prefix, name))
                found += paths(sub, (*prefix, name))
        return found

    expected = {"-".join(("ophis", *path)) for path in paths(command, ())}
    expected |= {f"ophis-{verb}" for verb in VERB_HELP}  # the verbs `ophis --help` lists
    page = site / "reference" / "cli" / "index.html"
    assert len(expected) > 100
    assert expected - headings(page) == set()
    assert "--solver" in page.read_text()  # options are documented, not just names


def test_every_endpoint_is_in_the_rest_reference(site: Path) -> None:
    from ophis.server.api import packages, uploads

    text = (site / "reference" / "rest-api" / "index.html").read_text()
    for router in (packages.router, uploads.router):
        for route in router.routes:
            for method in route.methods - {"HEAD"}:  # type: ignore[attr-defined]
                assert f"{method} /api{route.path_format}" in text  # type: ignore[attr-defined]
    assert "GET /healthz" in text and "StageCreate" in text


def test_every_server_setting_is_described_in_the_configuration_page(site: Path) -> None:
    """Each setting's row: its name, its variable, its default and what it is (the ``#:``
    comment above the field)."""
    text = (site / "configuration" / "index.html").read_text()
    for field in dataclasses.fields(ServerSettings):
        row = re.search(
            rf"<td><code>{field.name}</code></td>\s*<td><code>OPHIS_{field.name.upper()}</code>"
            r"</td>\s*<td>.+?</td>\s*<td>(.*?)</td>",
            text,
        )
        assert row and row.group(1).strip(), f"{field.name} is not described"


def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path) -> None:
    """The real mkdocs.yml on a copy of the pages with one link to a missing page and one
    to a missing anchor (the generated references left out: they are not what is checked)."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    for page in ("reference/cli.md", "reference/rest-api.md"):
        (tmp_path / "docs" / page).write_text("# Left out\n")
    index = tmp_path / "docs" / "index.md"
    index.write_text(
        index.read_text() + "\n[gone](no-such-page.md) [nowhere](server.md#no-such-anchor)\n"
    )
    built = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr and "#no-such-anchor" in built.stderr


def names_in(paths: list[Path], pattern: str) -> set[str]:
    return {name for path in paths for name in re.findall(pattern, path.read_text())}


def test_every_ophis_variable_is_documented() -> None:
    """A variable the code reads (a quoted ``"OPHIS_..."`` name in Python, ``$OPHIS_...`` in
    a script) is named in the site's pages; a server setting's ``OPHIS_<SETTING>`` is in the
    table generated from ``ServerSettings``."""
    named = names_in(
        list((ROOT / "src").rglob("*.py")), r"[\"'](OPHIS_[A-Z0-9_]*[A-Z0-9])[\"']"
    ) | names_in(list((ROOT / "scripts").glob("*.sh")), r"\$\{?(OPHIS_[A-Z0-9_]*[A-Z0-9])")
    settings = {f"OPHIS_{field.name.upper()}" for field in dataclasses.fields(ServerSettings)}
    documented = "\n".join(page.read_text() for page in DOCS.rglob("*.md"))
    assert len(named) > 15
    assert sorted(name for name in named - settings if name not in documented) == []


def test_the_readme_is_a_front_door_into_the_site() -> None:
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 150
    assert lines[2:6] == [
        "```bash",
        "bash scripts/start.sh     # set up .venv/ and start the channel server on "
        "http://127.0.0.1:8080",
        "bash scripts/test.sh      # set up .venv/ and run ruff and every test",
        "```",
    ]
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) > 10
    assert [link for link in links if not (ROOT / link).is_file()] == []
