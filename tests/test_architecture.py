"""The layers of ``DESIGN.md``, checked on the source: imports point down, core stays pure,
services never reach up to the routes or the CLI, and no module imports one that imports it
back. Each failure names the import and its line, so the fix is where the message says."""

from __future__ import annotations

from pathlib import Path

import pytest

import ophis
from ophis.testing.import_graph import Import, ImportGraph, read_package

#: a part may import the parts of a lower rank (and itself), never one of its own or higher
PART_RANKS = {
    "core": 0,
    "client": 1,
    "indexer": 1,
    "security": 1,
    "manager": 2,
    "builder": 3,
    "mirror": 3,
    "models": 3,
    "navigator": 4,  # its Models page drives ophis.models
    "project": 3,
    "distribution": 4,
    "server": 4,
    "testing": 5,
    "cli": 6,
    "__main__": 7,
}
#: what core never imports: a web framework, a database, an HTTP client, a template engine,
#: the terminal front end
FORBIDDEN_IN_CORE = {
    "aiohttp",
    "alembic",
    "boto3",
    "botocore",
    "click",
    "fastapi",
    "http.client",
    "http.server",
    "httpx",
    "jinja2",
    "psycopg",
    "requests",
    "rich",
    "socket",
    "sqlalchemy",
    "sqlite3",
    "starlette",
    "typer",
    "urllib.request",
    "urllib3",
    "uvicorn",
}
#: the server's route layers: they call services, never the other way round
ROUTE_LAYERS = ("api", "conda", "pypi", "web", "app", "deps")
#: the floors of server/services (see its README): a folder imports only lower floors
SERVICE_FLOORS = {
    "accounts": 1,
    "events": 2,
    "hosting": 2,
    "catalog": 3,
    "trust": 4,
    "intake": 5,
    "channels": 6,
    "admin": 7,
}
SERVICES = "ophis.server.services"


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return read_package(Path(ophis.__file__).parent)


def _where(found: Import, graph: ImportGraph) -> str:
    path = graph.modules[found.importer]
    return f"{found.importer} imports {found.imported} ({path.name}:{found.line})"


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _part(name: str) -> str:
    return name.split(".")[1] if name.count(".") else name


def test_no_import_cycles(graph: ImportGraph) -> None:
    """Deferring an import into a function hides a cycle from Python, not from this test."""
    cycles = [", ".join(group) for group in graph.cycles()]
    assert not cycles, "Modules that import each other (move what they share):\n" + "\n".join(
        cycles
    )


def test_parts_import_only_lower_parts(graph: ImportGraph) -> None:
    wrong = [
        _where(found, graph)
        for found in graph.imports
        if _is_under(found.imported, "ophis")
        and found.imported != "ophis"
        and _part(found.importer) != _part(found.imported)
        and PART_RANKS[_part(found.importer)] <= PART_RANKS[_part(found.imported)]
    ]
    assert not wrong, "Imports that point up or sideways (see DESIGN.md)" + ":\n" + "\n".join(wrong)


def test_every_part_has_a_rank(graph: ImportGraph) -> None:
    parts = {_part(name) for name in graph.modules if name != "ophis"}
    assert parts <= PART_RANKS.keys(), "A new part: give it its place in PART_RANKS"


def test_core_imports_no_web_database_or_http_library(graph: ImportGraph) -> None:
    wrong = [
        _where(found, graph)
        for found in graph.imports
        if _is_under(found.importer, "ophis.core")
        and any(_is_under(found.imported, library) for library in FORBIDDEN_IN_CORE)
    ]
    assert not wrong, (
        "core is pure: it takes values and streams and returns values" + ":\n" + "\n".join(wrong)
    )


def test_services_import_no_route_layer(graph: ImportGraph) -> None:
    routes = [f"ophis.server.{layer}" for layer in ROUTE_LAYERS]
    wrong = [
        _where(found, graph)
        for found in graph.imports
        if _is_under(found.importer, SERVICES)
        and any(_is_under(found.imported, route) for route in routes)
    ]
    assert not wrong, (
        "Services are called by routes, never the other way round" + ":\n" + "\n".join(wrong)
    )


def test_service_folders_import_only_lower_floors(graph: ImportGraph) -> None:
    def floor(name: str) -> str | None:
        rest = name.removeprefix(SERVICES + ".")
        return rest.split(".")[0] if rest != name and rest.count(".") else None

    wrong = [
        _where(found, graph)
        for found in graph.imports
        if (importer := floor(found.importer)) is not None
        and (imported := floor(found.imported)) is not None
        and importer != imported
        and SERVICE_FLOORS[importer] <= SERVICE_FLOORS[imported]
    ]
    assert not wrong, (
        "A services folder imports one on its floor or above (see its README)"
        + ":\n"
        + "\n".join(wrong)
    )


def test_every_service_module_is_in_a_folder(graph: ImportGraph) -> None:
    top_level = [
        name
        for name in graph.modules
        if _is_under(name, SERVICES) and name.count(".") == 3 and name != SERVICES
    ]
    folders = {name.split(".")[3] for name in top_level}
    assert folders <= SERVICE_FLOORS.keys(), "Put the module in a folder of server/services"
