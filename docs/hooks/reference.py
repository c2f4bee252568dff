"""mkdocs hook: the generated parts of the documentation site.

- ``reference/rest-api.md``: the server's REST API, from the OpenAPI document of an app
  built as the tests build it (a temporary data directory, nothing served);
- ``configuration.md``: every server setting, from ``ServerSettings``'s fields and the
  ``#:`` comment above each.

A page asks for a part with a placeholder line (``<!-- generated: rest-api -->``). The CLI
reference needs no hook: mkdocs-click renders ``ophis.cli.reference:command``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pkgutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

PLACEHOLDER = "<!-- generated: {} -->"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    for name, render in GENERATED.items():
        placeholder = PLACEHOLDER.format(name)
        if placeholder in markdown:
            markdown = markdown.replace(placeholder, render())
    return markdown


# --- the REST API --------------------------------------------------------------------------


#: the API's sections, by the module under ophis.server.api that serves them (a module not
#: named here gets a section of its own under its name)
SECTIONS = {
    "root": "Health and the API root",
    "session": "Logins, tokens and accounts",
    "packages": "Packages, releases and files",
    "uploads": "Uploads",
    "labels": "Labels and copies",
    "groups": "Organizations' groups",
    "stats": "Download statistics",
    "deployments": "Deployments",
    "cves": "Known vulnerabilities and channel policies",
    "sboms": "SBOMs",
}


@cache
def openapi_document() -> dict[str, Any]:
    from ophis.server.app import create_app
    from ophis.server.settings import ServerSettings

    with tempfile.TemporaryDirectory() as scratch:
        settings = ServerSettings(
            data_dir=Path(scratch) / "data",
            webhook_sender=False,
            retention_runner=False,
            mirror_runner=False,
        )
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.context.close()


def route_sections() -> dict[tuple[str, str], str]:
    """(method, path) -> the module under ophis.server.api whose router serves it (mounted
    under /api, or at the root)."""
    from fastapi.routing import APIRoute

    import ophis.server.api as api

    sections = {}
    for module in pkgutil.iter_modules(api.__path__):
        router = getattr(importlib.import_module(f"{api.__name__}.{module.name}"), "router", None)
        for route in getattr(router, "routes", []):
            if isinstance(route, APIRoute):
                for method in route.methods:
                    for prefix in ("", "/api"):
                        sections[(method, prefix + route.path_format)] = module.name
    return sections


def render_rest_api() -> str:
    document, sections = openapi_document(), route_sections()
    grouped: dict[str, list[str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            section = sections.get((method.upper(), path), "other")
            grouped.setdefault(section, []).extend(_operation(method.upper(), path, operation))
    lines: list[str] = []
    for section, operations in grouped.items():
        lines += [f"## {SECTIONS.get(section, section.capitalize())}", "", *operations]
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += _schema(name, schema)
    return "\n".join(lines)


def _operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method} {path}`", "", f"**{operation.get('summary', '')}**", ""]
    if description := operation.get("description"):
        lines += [description, ""]
    if parameters := operation.get("parameters"):
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        lines += [_parameter(parameter) for parameter in parameters]
        lines.append("")
    for media, content in operation.get("requestBody", {}).get("content", {}).items():
        lines += [f"Request body (`{media}`): {_type(content.get('schema', {}))}", ""]
    answers = ", ".join(
        f"`{status}` {response.get('description', '')}"
        for status, response in operation.get("responses", {}).items()
    )
    return [*lines, f"Answers: {answers}.", ""]


def _parameter(parameter: dict[str, Any]) -> str:
    return (
        f"| `{parameter['name']}` | {parameter['in']} | {_type(parameter.get('schema', {}))}"
        f" | {_yes(parameter.get('required', False))}"
        f" | {_cell(parameter.get('description', ''))} |"
    )


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {_schema_title(name)} {{#{_anchor(name)}}}", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required |", "|---|---|---|"]
    for field_name, field in schema.get("properties", {}).items():
        lines.append(f"| `{field_name}` | {_type(field)} | {_yes(field_name in required)} |")
    return [*lines, ""]


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short phrase: a link for a named schema, "a or b" for a union."""
    if ref := schema.get("$ref"):
        name = ref.rsplit("/", 1)[-1]
        return f"[{_schema_title(name)}](#{_anchor(name)})"
    if choices := schema.get("anyOf") or schema.get("oneOf"):
        return " or ".join(_type(choice) for choice in choices)
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    return f"`{schema.get('type', 'any')}`"


def _schema_title(name: str) -> str:
    """FastAPI names a model defined twice by its module path: keep the model's name."""
    return name.rsplit("__", 1)[-1]


def _anchor(name: str) -> str:
    return "schema-" + name.replace("__", "-").replace("_", "-").lower()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- the server's settings -----------------------------------------------------------------


#: what a field without a ``#:`` comment is
UNCOMMENTED = {
    "data_dir": "where the database, package files, caches and secrets live (`--data-dir`)",
}


def render_server_settings() -> str:
    from ophis.server import settings as module

    comments = _field_comments(Path(module.__file__).read_text(), "ServerSettings")
    lines = [
        "| setting | environment variable | default | what it is |",
        "|---|---|---|---|",
    ]
    for field in dataclasses.fields(module.ServerSettings):
        lines.append(
            f"| `{field.name}` | `OPHIS_{field.name.upper()}` | {_default(field)}"
            f" | {_cell(comments.get(field.name) or UNCOMMENTED.get(field.name, ''))} |"
        )
    return "\n".join(lines)


def _field_comments(source: str, class_name: str) -> dict[str, str]:
    """Each field's ``#:`` comment: the run of ``#:`` lines just above it."""
    lines = source.splitlines()
    tree = ast.parse(source)
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    comments = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = []
            index = node.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#:"):
                above.insert(0, lines[index].strip().removeprefix("#:").strip())
                index -= 1
            comments[node.target.id] = " ".join(above)
    return comments


def _default(field: dataclasses.Field[Any]) -> str:
    if field.name == "data_dir":
        return "`$OPHIS_SERVER_DATA`, else `~/.ophis/server`"
    value = field.default
    if value is dataclasses.MISSING:
        value = field.default_factory()  # type: ignore[misc]
    return f"`{value}`" if isinstance(value, Path) else f"`{value!r}`"


GENERATED: dict[str, Callable[[], str]] = {
    "rest-api": render_rest_api,
    "server-settings": render_server_settings,
}
