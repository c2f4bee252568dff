"""Known vulnerabilities on a real server: the sample feed imported with
``ophis server cve import``, files uploaded before and after it matched, curators' statuses
by API (kept across re-imports, with history), privacy of affected files, the audit
endpoint, and channel policies that hide or refuse files -- py-rattler still installs the
rest of a policy channel."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import rattler
from rattler.exceptions import SolverError

from ophis.client.api import ApiError
from ophis.client.upload import UploadOptions, upload
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_user

FEED = Path(__file__).parents[2] / "src" / "ophis" / "testing" / "data" / "cve-feed"
ZLIB = Path("conda") / "conda_format_repo" / "linux-64" / "zlib-1.2.11-h7b6447c_3.tar.bz2"
ZLIB_BASENAME = "linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2"
CRITICAL = "CVE-2022-37434"


def put(
    server: RunningServer, token: str | None, owner: str, path: Path, **options: object
) -> dict:
    with httpx.Client(base_url=server.api, headers=headers(token), timeout=60) as client:
        return upload(client, owner, path, UploadOptions(**options)).file  # type: ignore[arg-type]


def api(
    server: RunningServer, method: str, path: str, token: str | None = None, **kw: object
) -> httpx.Response:
    return httpx.request(method, f"{server.api}{path}", headers=headers(token), timeout=60, **kw)  # type: ignore[arg-type]


def import_feed(server: RunningServer) -> dict:
    result = server.ophis("cve", "import", str(FEED), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("made")
    return {
        "zlib-1.2.11": make_package(out, "zlib", "1.2.11"),
        "zlib-1.2.13": make_package(out, "zlib", "1.2.13"),
        "openssl-3.0.5": make_package(out, "openssl", "3.0.5", license="Apache-2.0"),
        "pyyaml-5.3.1": make_package(out, "pyyaml", "5.3.1", license="MIT"),
        "python-3.12.1": make_package(out, "python", "3.12.1", license="PSF-2.0"),
        "app": make_package(out, "app", "1.0", depends=["zlib"]),
        "gpl-tool": make_package(out, "gpl-tool", "1.0", license="GPL-3.0-only"),
    }


@pytest.fixture(scope="module")
def world(server: RunningServer, testdata: Path, made: dict[str, Path]) -> dict[str, str]:
    """admin's channel: the real zlib 1.2.11 uploaded before the import, the rest after;
    bob (a plain user) with a private affected package."""
    admin = server.login()
    put(server, admin, "admin", testdata / ZLIB)
    summary = import_feed(server)
    assert summary["records"] == 8 and summary["matches_added"] == 2
    for key in ("zlib-1.2.13", "openssl-3.0.5", "pyyaml-5.3.1", "python-3.12.1"):
        put(server, admin, "admin", made[key])
    bob = add_user(server, "bob")
    put(server, bob, "bob", made["zlib-1.2.11"], public=False)
    carol = add_user(server, "carol")
    return {"admin": admin, "bob": bob, "carol": carol}


def findings(server: RunningServer, owner: str, name: str, token: str | None = None) -> dict:
    response = api(server, "GET", f"/package/{owner}/{name}/cves", token)
    assert response.status_code == 200, response.text
    return {f["basename"]: f["vulnerabilities"] for f in response.json()["files"]}


def test_import_and_uploads_match_exactly_the_affected_files(
    server: RunningServer, world: dict[str, str]
) -> None:
    zlib = findings(server, "admin", "zlib")
    assert [(v["id"], v["score"], v["severity"], v["status"]) for v in zlib[ZLIB_BASENAME]] == [
        (CRITICAL, 9.8, "critical", "reported"),
        ("CVE-2018-25032", 7.5, "high", "reported"),
    ]
    assert zlib["noarch/zlib-1.2.13-0.tar.bz2"] == []
    assert [
        v["id"] for v in findings(server, "admin", "openssl")["noarch/openssl-3.0.5-0.tar.bz2"]
    ] == ["CVE-2022-3602"]
    # OSV gives only a vector: the score is computed from it; PyPI's name maps to conda's
    pyyaml = findings(server, "admin", "pyyaml")["noarch/pyyaml-5.3.1-0.tar.bz2"]
    assert [(v["id"], v["score"]) for v in pyyaml] == [("GHSA-8q59-q68h-6hv4", 9.8)]
    assert findings(server, "admin", "python")["noarch/python-3.12.1-0.tar.bz2"] == []


def test_listing_filters_and_aliases(server: RunningServer, world: dict[str, str]) -> None:
    listed = api(server, "GET", "/cves", params={"package": "zlib"}).json()
    assert [v["id"] for v in listed] == [CRITICAL, "CVE-2018-25032"]
    critical = api(server, "GET", "/cves", params={"min_score": 9}).json()
    assert {v["id"] for v in critical} == {CRITICAL, "GHSA-8q59-q68h-6hv4", "GHSA-53q9-r3pm-6pq6"}
    torch = api(server, "GET", "/cves", params={"package": "torch"}).json()
    assert [(v["id"], v["scores"][0]["version"]) for v in torch] == [("GHSA-53q9-r3pm-6pq6", "4.0")]
    by_alias = api(server, "GET", "/cves/CVE-2020-14343").json()
    assert by_alias["id"] == "GHSA-8q59-q68h-6hv4"
    missing = api(server, "GET", "/cves/CVE-1999-0001")
    assert missing.status_code == 404 and "ophis server cve import" in missing.json()["remedy"]


def test_private_affected_files_show_only_to_those_who_may_see_them(
    server: RunningServer, world: dict[str, str]
) -> None:
    def owners(token: str | None) -> set[str]:
        record = api(server, "GET", f"/cves/{CRITICAL}", token).json()
        return {f["owner"] for f in record["files"]}

    assert owners(None) == {"admin"}
    assert owners(world["carol"]) == {"admin"}
    assert owners(world["bob"]) == {"admin", "bob"}
    assert api(server, "GET", "/package/bob/zlib/cves").status_code == 404
    assert api(server, "GET", "/package/bob/zlib/cves", world["bob"]).status_code == 200


def test_curators_set_statuses_with_a_reason_and_history(
    server: RunningServer, world: dict[str, str]
) -> None:
    path = f"/cves/{CRITICAL}/files/admin/{ZLIB_BASENAME}"
    body = {"status": "active", "reason": "inflateGetHeader is called by this build"}
    carol = api(server, "PUT", path, world["carol"], json=body)
    assert carol.status_code == 403 and "Only admins of admin" in carol.json()["remedy"]
    assert api(server, "PUT", path, None, json=body).status_code == 401
    reader = server.login(scopes=["api:read"])  # the admin, through a read-only token
    narrow = api(server, "PUT", path, reader, json=body)
    assert narrow.status_code == 403 and "api:write" in narrow.json()["error"]
    no_reason = api(server, "PUT", path, world["admin"], json={"status": "active"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]
    unknown = api(server, "PUT", path, world["admin"], json={"status": "fixed", "reason": "x"})
    assert unknown.status_code == 400 and "cleared" in unknown.json()["remedy"]
    # bob's private file: not even there for carol
    bob_path = f"/cves/{CRITICAL}/files/bob/noarch/zlib-1.2.11-0.tar.bz2"
    assert api(server, "PUT", bob_path, world["carol"], json=body).status_code == 404

    changed = api(server, "PUT", path, world["admin"], json=body)
    assert changed.status_code == 200, changed.text
    history = changed.json()["history"]
    assert [(h["by"], h["from"], h["to"]) for h in history] == [("admin", "reported", "active")]
    # a re-import keeps what curators decided
    assert import_feed(server)["matches_added"] == 0
    zlib = findings(server, "admin", "zlib")[ZLIB_BASENAME]
    assert zlib[0] == {
        "id": CRITICAL,
        "score": 9.8,
        "severity": "critical",
        "status": "active",
        "reason": body["reason"],
        "summary": zlib[0]["summary"],
    }


def test_audit_reports_the_affected_packages_with_visible_statuses(
    server: RunningServer, world: dict[str, str], testdata: Path, made: dict[str, Path]
) -> None:
    import hashlib

    admin_sha = hashlib.sha256((testdata / ZLIB).read_bytes()).hexdigest()
    bob_sha = hashlib.sha256(made["zlib-1.2.11"].read_bytes()).hexdigest()
    packages = [
        {"name": "zlib", "version": "1.2.11", "sha256": admin_sha},
        {"name": "zlib", "version": "1.2.13"},
        {"name": "requests", "version": "2.28.1", "ecosystem": "pypi"},
        {"name": "PyYAML", "version": "6.0.1", "ecosystem": "pypi"},
        {"name": "python", "version": "3.10.11"},
    ]
    answer = api(server, "POST", "/cves/audit", json={"packages": packages})
    assert answer.status_code == 200, answer.text
    found = {(f["name"], f["version"], f["id"]): f["status"] for f in answer.json()["findings"]}
    assert found == {
        ("zlib", "1.2.11", CRITICAL): "active",
        ("zlib", "1.2.11", "CVE-2018-25032"): "reported",
        ("requests", "2.28.1", "GHSA-j8r2-6x86-q33q"): "reported",
        ("python", "3.10.11", "CVE-2023-24329"): "reported",
    }
    # bob marks his private file; only bob's audit sees that status
    path = f"/cves/{CRITICAL}/files/bob/noarch/zlib-1.2.11-0.tar.bz2"
    body = {"status": "mitigated", "reason": "built without gzip header support"}
    assert api(server, "PUT", path, world["bob"], json=body).status_code == 200
    mine = [{"name": "zlib", "version": "1.2.11", "sha256": bob_sha}]

    def status(token: str | None) -> str:
        result = api(server, "POST", "/cves/audit", token, json={"packages": mine}).json()
        return next(f["status"] for f in result["findings"] if f["id"] == CRITICAL)

    assert status(world["bob"]) == "mitigated"
    assert status(None) == "reported"


# --- channel policies -----------------------------------------------------------------------


def solve(channel: str, spec: str, cache: Path) -> list[rattler.RepoDataRecord]:
    return asyncio.run(
        rattler.solve(
            [rattler.Channel(channel)],
            [spec],
            gateway=rattler.Gateway(cache_dir=cache),
            platforms=["linux-64", "noarch"],
        )
    )


def repodata_names(server: RunningServer, owner: str, label: str | None = None) -> set[str]:
    url = f"{server.conda(owner, label)}/noarch/repodata.json"
    document = httpx.get(url, timeout=30).json()
    return set(document["packages"]) | set(document["packages.conda"])


def test_a_hiding_policy_hides_active_critical_files_and_rattler_installs_the_rest(
    server: RunningServer, world: dict[str, str], made: dict[str, Path], tmp_path: Path
) -> None:
    token = add_user(server, "secure")
    for key in ("zlib-1.2.11", "zlib-1.2.13", "app"):
        put(server, token, "secure", made[key])
    policy = {"action": "hide", "max_score": 9.0, "statuses": ["active"]}
    assert api(server, "PUT", "/policies/secure", token, json=policy).status_code == 200
    assert api(server, "PUT", "/policies/secure", world["carol"], json=policy).status_code == 404
    all_three = {"zlib-1.2.11-0.tar.bz2", "zlib-1.2.13-0.tar.bz2", "app-1.0-0.tar.bz2"}
    assert repodata_names(server, "secure") == all_three  # reported: not yet curated

    path = f"/cves/{CRITICAL}/files/secure/noarch/zlib-1.2.11-0.tar.bz2"
    body = {"status": "active", "reason": "confirmed"}
    assert api(server, "PUT", path, token, json=body).status_code == 200
    assert repodata_names(server, "secure") == all_three - {"zlib-1.2.11-0.tar.bz2"}
    channeldata = httpx.get(f"{server.conda('secure')}/channeldata.json").json()
    assert channeldata["packages"]["zlib"]["version"] == "1.2.13"
    with pytest.raises(SolverError):
        solve(server.conda("secure"), "zlib ==1.2.11", tmp_path / "hidden")
    records = solve(server.conda("secure"), "app", tmp_path / "cache")
    assert {(r.name.normalized, str(r.version)) for r in records} == {
        ("app", "1.0"),
        ("zlib", "1.2.13"),
    }
    asyncio.run(rattler.install(records, tmp_path / "env", cache_dir=tmp_path / "pkgs"))
    installed = {p.name for p in (tmp_path / "env" / "conda-meta").glob("*.json")}
    assert installed == {"app-1.0-0.json", "zlib-1.2.13-0.json"}

    # the owner's view says why; a curator's change shows the file again
    listing = findings(server, "secure", "zlib", token)
    hidden = api(server, "GET", "/package/secure/zlib/cves", token).json()["files"]
    assert "CVE-2022-37434" in next(f["hidden"] for f in hidden if f["hidden"])
    assert listing
    body = {"status": "mitigated", "reason": "patched in our build"}
    assert api(server, "PUT", path, token, json=body).status_code == 200
    assert repodata_names(server, "secure") == all_three


def test_a_refusing_policy_rejects_unlisted_licenses_and_curated_bytes(
    server: RunningServer, world: dict[str, str], made: dict[str, Path]
) -> None:
    token = add_user(server, "strict")
    policy = {
        "label": "release",
        "action": "refuse",
        "max_score": 7.0,
        "statuses": ["active"],
        "licenses": ["BSD-3-Clause", "MIT"],
    }
    answer = api(server, "PUT", "/policies/strict", token, json=policy)
    assert answer.status_code == 200, answer.text
    assert api(server, "GET", "/policies/strict", token).json()[0]["licenses"] == [
        "BSD-3-Clause",
        "MIT",
    ]
    with pytest.raises(ApiError, match=r"GPL-3\.0-only"):
        put(server, token, "strict", made["gpl-tool"], labels=("release",))
    put(server, token, "strict", made["gpl-tool"])  # main has no policy
    put(server, token, "strict", made["zlib-1.2.13"], labels=("release",))
    # bob's bytes of zlib 1.2.11 were curated (mitigated) already: below the policy's statuses
    put(server, token, "strict", made["zlib-1.2.11"], labels=("release",))
    # the same bytes with an active critical vulnerability elsewhere are refused
    path = f"/cves/{CRITICAL}/files/bob/noarch/zlib-1.2.11-0.tar.bz2"
    body = {"status": "active", "reason": "reconsidered"}
    assert api(server, "PUT", path, world["bob"], json=body).status_code == 200
    api(server, "DELETE", "/policies/strict", token, params={"label": "release"})
    assert api(server, "GET", "/policies/strict", token).json() == []
    other = add_user(server, "stricter")
    policy["label"] = None
    assert api(server, "PUT", "/policies/stricter", other, json=policy).status_code == 200
    with pytest.raises(ApiError, match=CRITICAL):
        put(server, other, "stricter", made["zlib-1.2.11"])


def test_a_bad_feed_is_refused_naming_the_file(server: RunningServer, tmp_path: Path) -> None:
    bad = tmp_path / "feed.json"
    bad.write_text('{"vulnerabilities": [{"unknown": true}]}')
    result = server.ophis("cve", "import", str(bad), "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert str(bad) in error["message"] and "osv.dev" in error["remedy"]


def test_a_label_policy_hides_from_that_label_only(
    server: RunningServer, world: dict[str, str], made: dict[str, Path]
) -> None:
    token = add_user(server, "labelled")
    put(server, token, "labelled", made["zlib-1.2.13"], labels=("main", "release"))
    put(server, token, "labelled", made["pyyaml-5.3.1"], labels=("main", "release"))
    policy = {"label": "release", "max_score": 9, "statuses": ["reported", "active"]}
    assert api(server, "PUT", "/policies/labelled", token, json=policy).status_code == 200
    both = {"zlib-1.2.13-0.tar.bz2", "pyyaml-5.3.1-0.tar.bz2"}
    assert repodata_names(server, "labelled") == both
    assert repodata_names(server, "labelled", "release") == {"zlib-1.2.13-0.tar.bz2"}
    channeldata = httpx.get(f"{server.url}/conda/labelled/label/release/channeldata.json").json()
    assert set(channeldata["packages"]) == {"zlib"}
