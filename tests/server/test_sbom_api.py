"""``GET /api/sbom/{owner}/{package}/{version}/{basename}``: a stored file's CycloneDX (or
SPDX) document, with what the server knows about its vulnerabilities, hidden like its
download when the package is private."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from ophis.core.package_file import read_package
from ophis.security import cve
from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_user

FEED = Path(cve.__file__).parents[1] / "testing" / "data" / "cve-feed"
ZLIB = "conda/conda_format_repo/linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2"
ZLIB_DIST = "admin/zlib/1.2.11/linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2"
SECRET_DIST = "admin/secret/1.0/noarch/secret-1.0-0.tar.bz2"


@pytest.fixture(scope="module")
def uploaded(
    server: RunningServer, testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The real zlib package, public, and a private package, uploaded by the admin."""
    folder = tmp_path_factory.mktemp("sbom-files")
    zlib = folder / Path(ZLIB).name
    shutil.copyfile(testdata / ZLIB, zlib)
    client = as_user(AnacondaClient(server, folder / "anaconda"), server.login())
    client("package", "--create", "--private", "--summary", "Hidden", "admin/secret", check=True)
    secret = make_package(folder, "secret", "1.0", "0", depends=["zlib >=1.2"])
    client("upload", str(zlib), str(secret), check=True)
    return {"zlib": zlib, "secret": secret}


def get(server: RunningServer, dist: str, token: str | None = None, **params: str):
    return httpx.get(f"{server.api}/sbom/{dist}", headers=headers(token), params=params)


def test_a_files_cyclonedx_sbom(server: RunningServer, uploaded: dict[str, Path]) -> None:
    answer = get(server, ZLIB_DIST)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(answer.text) is None
    main = answer.json()["metadata"]["component"]
    contents = read_package(uploaded["zlib"])
    assert main["purl"] == (
        "pkg:conda/zlib@1.2.11?build=h7b6447c_3&channel=admin&subdir=linux-64&type=tar.bz2"
    )
    assert {"alg": "SHA-256", "content": contents.sha256} in main["hashes"]
    assert main["licenses"] == [{"license": {"id": "Zlib"}}]
    assert main["description"] == contents.about["summary"]
    specs = [c["properties"][0]["value"] for c in answer.json()["components"]]
    assert specs == contents.index["depends"]


def test_a_files_spdx_sbom(
    server: RunningServer, uploaded: dict[str, Path], tmp_path: Path
) -> None:
    answer = get(server, ZLIB_DIST, format="spdx")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/spdx+json")
    path = tmp_path / "zlib.spdx.json"
    path.write_text(answer.text)
    assert validate_full_spdx_document(parse_file(str(path))) == []
    (zlib,) = [p for p in answer.json()["packages"] if p["name"] == "zlib"]
    sha256 = read_package(uploaded["zlib"]).sha256
    assert {"algorithm": "SHA256", "checksumValue": sha256} in zlib["checksums"]

    wrong = get(server, ZLIB_DIST, format="xml")
    assert wrong.status_code == 400
    assert "format=cyclonedx" in json.dumps(wrong.json())


def test_a_private_files_sbom_is_hidden_like_its_download(
    server: RunningServer, uploaded: dict[str, Path]
) -> None:
    bob = add_user(server, "bob")
    for token in (None, bob):
        assert get(server, SECRET_DIST, token).status_code == 404
        assert get(server, SECRET_DIST, token, format="spdx").status_code == 404
    assert get(server, "admin/secret/1.0/noarch/nothing-1.0-0.tar.bz2").status_code == 404
    mine = get(server, SECRET_DIST, server.login())
    assert mine.status_code == 200
    assert mine.json()["metadata"]["component"]["name"] == "secret"


def test_the_sbom_lists_the_files_known_vulnerabilities(
    server: RunningServer, uploaded: dict[str, Path]
) -> None:
    imported = server.ophis("cve", "import", str(FEED), "--json")
    assert imported.returncode == 0, imported.stdout + imported.stderr

    answer = get(server, ZLIB_DIST)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(answer.text) is None
    vulns = {v["id"]: v for v in answer.json()["vulnerabilities"]}
    assert set(vulns) == {"CVE-2022-37434", "CVE-2018-25032"}
    zlib = vulns["CVE-2022-37434"]
    (rating,) = zlib["ratings"]
    assert rating["score"] == 9.8 and rating["severity"] == "critical"
    assert rating["method"] == "CVSSv31" and rating["vector"].startswith("AV:N/AC:L/")
    assert zlib["analysis"]["state"] == "in_triage"  # reported: no curator has looked yet
    assert zlib["affects"][0]["ref"] == answer.json()["metadata"]["component"]["bom-ref"]

    changed = httpx.put(
        f"{server.api}/cves/CVE-2018-25032/files/{ZLIB_DIST.split('/', 3)[0]}/"
        + ZLIB_DIST.split("/", 3)[3],
        headers=headers(server.login()),
        json={"status": "mitigated", "reason": "patched in this build"},
    )
    assert changed.status_code == 200, changed.text
    curated = {v["id"]: v for v in get(server, ZLIB_DIST).json()["vulnerabilities"]}
    assert curated["CVE-2018-25032"]["analysis"] == {
        "state": "resolved",
        "detail": "mitigated: patched in this build",
    }
    assert curated["CVE-2022-37434"]["analysis"]["state"] == "in_triage"

    spdx = get(server, ZLIB_DIST, format="spdx").json()
    (package,) = [p for p in spdx["packages"] if p["name"] == "zlib"]
    advisories = {r["referenceLocator"] for r in package["externalRefs"]}
    assert "https://nvd.nist.gov/vuln/detail/CVE-2022-37434" in advisories
