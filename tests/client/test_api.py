"""The API client's pieces that need no server: what an error tells the user, token
redaction, OWNER/PACKAGE/VERSION/FILE specs and the API URL for what the user typed."""

from __future__ import annotations

import httpx
import pytest

from ophis.client.api import NotFound, NotLoggedIn, PermissionDenied, Spec, error_for
from ophis.client.credentials import api_url
from ophis.core.errors import OphisError

TOKEN = "oph-" + "a1B2" * 10


def answer(status: int, body: object, path: str = "/api/package/alice/demo") -> httpx.Response:
    request = httpx.Request("GET", f"http://127.0.0.1:8080{path}")
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("status", "kind", "remedy"),
    [
        (401, NotLoggedIn, "The token was refused (expired or revoked): log in again"),
        (403, PermissionDenied, "You lack the permission"),
        (404, NotFound, "It does not exist, or it is private and you are not allowed"),
    ],
)
def test_errors_say_what_to_do(status: int, kind: type, remedy: str) -> None:
    error = error_for(answer(status, {"error": "No.", "remedy": "Use `anaconda`."}), TOKEN)
    assert isinstance(error, kind)
    assert error.message == f"No. ({status} from GET /api/package/alice/demo)"
    assert error.remedy.startswith(remedy)


def test_a_401_without_a_token_says_to_log_in() -> None:
    error = error_for(answer(401, {"error": "This request needs a token."}))
    assert error.remedy == "Log in with `ophis login` (or set ANACONDA_API_TOKEN)."


def test_other_errors_keep_the_servers_remedy_and_lose_tokens() -> None:
    body = {"error": f"bad name in /conda/t/{TOKEN}/x", "remedy": f"not {TOKEN}"}
    error = error_for(answer(400, body), TOKEN)
    assert error.status == 400
    assert error.message == "bad name in /conda/t/<TOKEN>/x (400 from GET /api/package/alice/demo)"
    assert error.remedy == "not <TOKEN>"


def test_a_non_json_error_body_is_shown_as_text() -> None:
    request = httpx.Request("POST", "http://h/api/stage/a/b/1/f")
    error = error_for(httpx.Response(502, text="Bad gateway\n", request=request))
    assert error.message == "Bad gateway (502 from POST /api/stage/a/b/1/f)"


def test_specs() -> None:
    assert Spec.parse("alice/demo/1.0/noarch/demo-1.0-0.conda") == Spec(
        "alice", "demo", "1.0", "noarch/demo-1.0-0.conda"
    )
    assert str(Spec.parse("alice/demo/")) == "alice/demo"
    with pytest.raises(OphisError, match="names no version"):
        Spec.parse("alice/demo").require("package", "version")


@pytest.mark.parametrize(
    ("typed", "api"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api"),
        ("http://127.0.0.1:8080/api/", "http://127.0.0.1:8080/api"),
        ("https://example.org/ophis", "https://example.org/ophis/api"),
        ("api.anaconda.org", "https://api.anaconda.org"),
    ],
)
def test_the_api_url_of_what_the_user_typed(typed: str, api: str) -> None:
    assert api_url(typed) == api
