"""Anaconda.org's badges of a package, as SVG images for READMEs:
``/<owner>/<package>/badges/<name>.svg`` (version, downloads, platforms, license,
latest_release_date, latest_release_relative_date) and ``badges/installer/<tool>.svg``
(``conda`` or ``pypi``: the install command).

A private package's badges are 404 to those who may not read it, as for a package that does
not exist; a token in the path or the ``Authorization`` header shows them. Images are cached
a short while: a README's badge follows new releases within minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response

from ophis.core.badges import badge_svg, relative_age
from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.errors import NotFound
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.channels import repo
from ophis.server.web import links
from ophis.server.web.pages import only_pages
from ophis.server.web.rendering import root_of

router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])
#: seconds a badge may be reused
MAX_AGE = 300
#: an SVG opened on its own is a document of this origin: it may run nothing
_CONTENT_SECURITY = "default-src 'none'; frame-ancestors 'none'"
#: the installer badges: the tool in the URL -> the install command's tool
_INSTALLERS = {"conda": "conda", "pypi": "pip"}


def _downloads(count: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1000)):
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + unit
    return str(count)


def _released(facts: repo.BadgeFacts) -> str:
    return facts.released_at.date().isoformat() if facts.released_at else "none"


def _released_relative(facts: repo.BadgeFacts) -> str:
    return relative_age(facts.released_at, datetime.now(UTC)) if facts.released_at else "none"


#: badge name -> (its label, its value from the package's facts)
_BADGES: dict[str, Callable[[repo.BadgeFacts], tuple[str, str]]] = {
    "version": lambda f: (f.package.owner.login, f.version or "none"),
    "downloads": lambda f: ("downloads", _downloads(f.downloads)),
    "platforms": lambda f: ("platforms", " | ".join(f.platforms) or "none"),
    "license": lambda f: ("license", f.license or "unknown"),
    "latest_release_date": lambda f: ("latest release", _released(f)),
    "latest_release_relative_date": lambda f: ("latest release", _released_relative(f)),
}


def badge_names(package_types: list[str]) -> list[str]:
    """The badges a package has (an installer badge per tool that installs it)."""
    return [*_BADGES, *(f"installer/{tool}" for tool in _INSTALLERS if tool in package_types)]


@router.get("/{owner}/{package}/badges/{name}.svg")
def badge(
    owner: str, package: str, name: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    describe = _BADGES.get(name)
    if describe is None:
        raise _no_badge(name)
    facts = repo.badge_facts(session, principal, owner, package)
    return _svg(badge_svg(*describe(facts)), principal)


@router.get("/{owner}/{package}/badges/installer/{tool}.svg")
def installer_badge(
    owner: str,
    package: str,
    tool: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    facts = repo.badge_facts(session, principal, owner, package)
    commands = links.install_commands(root_of(request), facts.package, facts.install_label)
    wanted = _INSTALLERS.get(tool)
    command = next((c.text for c in commands if c.tool == wanted), None)
    if command is None:
        raise _no_badge(f"installer/{tool}")
    return _svg(badge_svg("", command), principal)


def _no_badge(name: str) -> NotFound:
    return NotFound(
        f"There is no badge {name}.svg.",
        f"Use one of {', '.join(sorted(_BADGES))}, installer/conda or installer/pypi.",
    )


def _svg(body: bytes, principal: Principal) -> Response:
    audience = "public" if principal.is_anonymous else "private"
    headers = {
        "Cache-Control": f"{audience}, max-age={MAX_AGE}",
        "Vary": "Authorization",
        "Content-Security-Policy": _CONTENT_SECURITY,
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type="image/svg+xml", headers=headers)
