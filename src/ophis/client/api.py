"""The anaconda-client API of a channel server (Ophis, Anaconda.org), one method per
endpoint, as ``ophis login``, ``upload``, ``label`` and friends use it.

Statuses are checked exactly (the API answers 200, 201 or 204 per endpoint) and every other
answer becomes an :class:`ApiError` naming what to do. The token travels only in the
``Authorization`` header, and is redacted from any message shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ophis import __version__
from ophis.core.errors import OphisError
from ophis.core.redaction import redact


class ApiError(OphisError):
    """The server refused a request or could not be reached."""

    exception_name = "ApiError"
    status: int | None = None


class NotLoggedIn(ApiError):
    exception_name = "Unauthorized"
    status = 401


class PermissionDenied(ApiError):
    exception_name = "Forbidden"
    status = 403


class NotFound(ApiError):
    exception_name = "NotFound"
    status = 404


class Conflict(ApiError):
    exception_name = "Conflict"
    status = 409


_ERRORS: dict[int, type[ApiError]] = {
    401: NotLoggedIn,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
}
_REMEDIES = {
    403: "You lack the permission: ask an owner of that channel (or an organization "
    "administrator) for access, or use a token with a wider --scope.",
    404: "It does not exist, or it is private and you are not allowed to see it: check the "
    "name and who you are logged in as (`ophis whoami`).",
}


def _remedy(status: int, has_token: bool, server_remedy: str) -> str:
    if status == 401:
        if has_token:
            return "The token was refused (expired or revoked): log in again with `ophis login`."
        return "Log in with `ophis login` (or set ANACONDA_API_TOKEN)."
    return _REMEDIES.get(status) or server_remedy or "Check the request and try again."


def error_for(response: httpx.Response, token: str | None = None) -> ApiError:
    """The error an unexpected answer stands for, its message taken from the server's
    ``{"error": ...}`` and with any token redacted."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body if isinstance(body, dict) else {"error": response.text.strip()[:500]}
    request = response.request
    message = (
        f"{detail.get('error') or response.reason_phrase} "
        f"({response.status_code} from {request.method} {request.url.path})"
    )
    remedy = _remedy(response.status_code, token is not None, str(detail.get("remedy") or ""))
    cls = _ERRORS.get(response.status_code, ApiError)
    error = cls(redact(message, token), redact(remedy, token))
    error.status = response.status_code
    return error


def checked(response: httpx.Response, status: int, token: str | None = None) -> Any:
    """The JSON body of an answer with exactly ``status`` (None when it has no body)."""
    if response.status_code != status:
        raise error_for(response, token)
    return response.json() if response.content else None


@dataclass(frozen=True)
class Spec:
    """``OWNER[/PACKAGE[/VERSION[/FILE]]]``, as ``anaconda`` commands take them (a conda
    file's basename keeps its subdir: ``alice/demo/1.0/noarch/demo-1.0-0.conda``)."""

    owner: str
    package: str | None = None
    version: str | None = None
    basename: str | None = None

    @classmethod
    def parse(cls, text: str) -> Spec:
        parts = text.strip("/").split("/", 3)
        if not parts[0]:
            raise OphisError(f"'{text}' names nothing.", "Write OWNER[/PACKAGE[/VERSION[/FILE]]].")
        return cls(*parts)

    def __str__(self) -> str:
        return "/".join(p for p in (self.owner, self.package, self.version, self.basename) if p)

    def require(self, *parts: str) -> Spec:
        """This spec, if it names each of ``parts`` (``package``, ``version``)."""
        missing = [part for part in parts if getattr(self, part) is None]
        if missing:
            raise OphisError(
                f"'{self}' names no {missing[0]}.",
                "Write OWNER/PACKAGE/VERSION[/FILE], for example alice/demo/1.0.",
            )
        return self


class ApiClient:
    """One server's API, called as one user (or anonymously when ``token`` is None)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        headers = {"User-Agent": f"ophis/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"token {token}"
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """``method path`` answered with exactly ``status``; its JSON body."""
        with self.reaching():
            response = self.http.request(method, path, **kwargs)
        return checked(response, status, self.token)

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """Network failures as an ApiError naming the server."""
        try:
            yield
        except httpx.TransportError as error:
            raise ApiError(
                redact(f"Could not reach {self.url}: {type(error).__name__}: {error}", self.token),
                "Check the server's URL (`ophis login URL`) and that it is running.",
            ) from None

    # --- the site, accounts and tokens -------------------------------------------------------

    def site(self) -> dict[str, Any]:
        """``GET <api>``: the server's conda, pypi and web URLs."""
        return self.call("GET", self.url)  # the exact URL: no trailing slash

    def user(self) -> dict[str, Any]:
        return self.call("GET", "/user")

    def login_name(self, owner: str | None = None) -> str:
        """``owner``, or else the login of the caller."""
        return owner or self.user()["login"]

    def account(self, login: str) -> dict[str, Any]:
        return self.call("GET", f"/user/{quote(login)}")

    def orgs(self) -> list[dict[str, Any]]:
        return self.call("GET", "/user/orgs")

    def create_token(
        self, body: dict[str, Any], auth: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """A new token: for a user name and password (``auth``, Basic auth replacing the
        token header) or by the current token."""
        with self.reaching():
            response = self.http.post(
                "/authentications", json=body, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        return checked(response, 200, self.token)

    def tokens(self) -> list[dict[str, Any]]:
        return self.call("GET", "/authentications")

    def revoke_current(self) -> None:
        self.call("DELETE", "/authentications", 201)

    def revoke(self, name: str, org: str | None = None) -> None:
        scope = f"/org/{quote(org)}" if org else ""
        self.call("DELETE", f"/authentications{scope}/name/{quote(name, safe='')}", 201)

    # --- packages, releases, files ----------------------------------------------------------

    def packages(self, owner: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/packages/{quote(owner)}")

    def search(self, name: str, platform: str | None, kind: str | None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("name", name), ("platform", platform), ("type", kind)) if v}
        return self.call("GET", "/search", params=params)

    def package(self, spec: Spec) -> dict[str, Any]:
        return self.call("GET", f"/package/{_path(spec, 2)}")

    def release(self, spec: Spec) -> dict[str, Any]:
        return self.call("GET", f"/release/{_path(spec, 3)}")

    def dist(self, spec: Spec) -> dict[str, Any]:
        return self.call("GET", f"/dist/{_path(spec, 4)}")

    def remove(self, spec: Spec) -> None:
        """Remove a whole package, one release or one file."""
        if spec.basename:
            self.call("DELETE", f"/dist/{_path(spec, 4)}", 200)
        elif spec.version:
            self.call("DELETE", f"/release/{_path(spec, 3)}", 201)
        else:
            self.call("DELETE", f"/package/{_path(spec, 2)}", 201)

    @contextmanager
    def download(self, file: dict[str, Any]) -> Iterator[httpx.Response]:
        """The streamed answer for one file object (as ``GET /package`` lists them); a
        redirect to storage elsewhere is followed (httpx drops the token for another host)."""
        request = self.http.build_request("GET", f"/download/{quote(file['full_name'])}")
        with self.reaching():
            response = self.http.send(request, stream=True, follow_redirects=True)
        try:
            if response.status_code != 200:
                response.read()
                raise error_for(response, self.token)
            yield response
        finally:
            response.close()

    # --- labels and copies ----------------------------------------------------------------------

    def labels(self, owner: str) -> dict[str, dict[str, Any]]:
        return self.call("GET", f"/channels/{quote(owner)}")

    def label(self, owner: str, label: str) -> dict[str, Any]:
        return self.call("GET", f"/channels/{quote(owner)}/{quote(label)}")

    def add_label(self, owner: str, label: str, selection: dict[str, str | None]) -> None:
        self.call("POST", f"/channels/{quote(owner)}/{quote(label)}", 201, json=selection)

    def remove_label(self, owner: str, label: str, selection: dict[str, str | None]) -> None:
        self.call("DELETE", f"/channels/{quote(owner)}/{quote(label)}", 201, json=selection)

    def copy_label(self, owner: str, label: str, to_label: str) -> None:
        path = f"/channels/{quote(owner)}/{quote(label)}/copy/{quote(to_label)}"
        self.call("POST", path, 201)

    def lock_label(self, owner: str, label: str, locked: bool) -> None:
        path = f"/channels/{quote(owner)}/{quote(label)}/lock"
        self.call("POST" if locked else "DELETE", path, 201)

    def copy(self, spec: Spec, body: dict[str, str | None], method: str) -> list[dict[str, Any]]:
        """Copy a release (or one file) to another owner or label; ``method`` is POST
        (refuse conflicts), PUT (replace) or PATCH (keep what is there)."""
        path = f"/copy/package/{_path(spec, 3)}/{spec.basename or ''}"
        return self.call(method, path, json=body)

    # --- organizations ---------------------------------------------------------------------------

    def groups(self, org: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/groups/{quote(org)}")["groups"]

    def members(self, org: str, group: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/group/{quote(org)}/{quote(group)}/members")

    def set_member(self, org: str, group: str, login: str, member: bool) -> None:
        path = f"/group/{quote(org)}/{quote(group)}/members/{quote(login)}"
        self.call("PUT" if member else "DELETE", path, 204)


def _path(spec: Spec, depth: int) -> str:
    """The first ``depth`` parts of ``spec`` as an API path (a basename keeps its ``/``)."""
    parts = (spec.owner, spec.package, spec.version, spec.basename)[:depth]
    return "/".join(quote(part or "", safe="/" if i == 3 else "") for i, part in enumerate(parts))
