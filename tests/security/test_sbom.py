"""SBOMs: CycloneDX 1.6 and SPDX 2.3 for a package file (real ones from the shared test data
and built ones) and for a real environment, validated by cyclonedx-python-lib's schema
validator and by spdx-tools; known vulnerabilities from the sample feed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from ophis.core.package_file import read_package
from ophis.indexer.channel_index import index_channel
from ophis.security import cve, sbom, spdx
from ophis.security.sbom import KnownVulnerability, SbomPackage
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

FEED = Path(cve.__file__).parents[1] / "testing" / "data" / "cve-feed"
VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)


def valid_cyclonedx(text: str) -> dict:
    error = VALIDATOR.validate_str(text)
    assert error is None, str(error)
    return json.loads(text)


def valid_spdx(document: dict, folder: Path) -> dict:
    path = folder / "document.spdx.json"
    path.write_text(json.dumps(document))
    problems = validate_full_spdx_document(parse_file(str(path)))
    assert problems == [], [p.validation_message for p in problems]
    return document


# --- a package file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "conda/conda_format_repo/linux-64/zlib-1.2.11-h7b6447c_3.tar.bz2",
        "conda-package-handling/mock-2.0.0-py37_1000.conda",
    ],
)
def test_a_real_package_files_sbom(testdata: Path, tmp_path: Path, relative: str) -> None:
    path = testdata / relative
    contents = read_package(path)
    package = SbomPackage.from_contents(contents, channel="main", with_files=True)
    document = valid_cyclonedx(sbom.to_json(sbom.package_bom(package)))

    main = document["metadata"]["component"]
    index = contents.index
    kind = "conda" if path.name.endswith(".conda") else "tar.bz2"
    assert main["purl"] == (
        f"pkg:conda/{index['name']}@{index['version']}?build={index['build']}"
        f"&channel=main&subdir={index['subdir']}&type={kind}"
    )
    assert {h["alg"]: h["content"] for h in main["hashes"]} == {
        "SHA-256": contents.sha256,
        "MD5": contents.md5,
    }
    files = {c["name"]: c for c in document["components"] if c["type"] == "file"}
    assert sorted(files) == sorted(p["_path"] for p in contents.paths)
    for entry in contents.paths:
        if entry.get("sha256"):
            assert files[entry["_path"]]["hashes"] == [
                {"alg": "SHA-256", "content": entry["sha256"]}
            ]
    required = {
        c["properties"][0]["value"] for c in document["components"] if c["type"] == "library"
    }
    assert required == set(index["depends"])
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert len(graph[main["bom-ref"]]) == len(set(index["depends"]))

    other = valid_spdx(spdx.package_document(package), tmp_path)
    described = [r for r in other["relationships"] if r["relationshipType"] == "DESCRIBES"]
    (package_entry,) = [
        p for p in other["packages"] if p["SPDXID"] == described[0]["relatedSpdxElement"]
    ]
    assert package_entry["checksums"][0] == {
        "algorithm": "SHA256",
        "checksumValue": contents.sha256,
    }
    assert package_entry["externalRefs"][0]["referenceLocator"] == main["purl"]


def test_licenses_are_spdx_ids_when_they_are_and_names_otherwise(tmp_path: Path) -> None:
    plain = make_package(tmp_path, "plain", license="BSD-3-Clause")
    prose = make_package(tmp_path, "prose", license="BSD 3-Clause")
    either = make_package(tmp_path, "either", license="MIT OR Apache-2.0")
    licenses = {}
    for path in (plain, prose, either):
        package = SbomPackage.from_contents(read_package(path))
        main = valid_cyclonedx(sbom.to_json(sbom.package_bom(package)))["metadata"]["component"]
        licenses[package.name] = main["licenses"][0]
        valid_spdx(spdx.package_document(package), tmp_path)
    assert licenses == {
        "plain": {"license": {"id": "BSD-3-Clause"}},
        "prose": {"license": {"name": "BSD 3-Clause"}},
        "either": {"expression": "MIT OR Apache-2.0"},
    }
    prose_doc = spdx.package_document(SbomPackage.from_contents(read_package(prose)))
    assert prose_doc["packages"][0]["licenseDeclared"] == "LicenseRef-BSD-3-Clause"
    assert prose_doc["hasExtractedLicensingInfos"][0]["extractedText"] == "BSD 3-Clause"


def test_known_vulnerabilities_with_ratings_and_curator_status(tmp_path: Path) -> None:
    path = make_package(tmp_path, "zlib", "1.2.11", "h0_0", depends=["libgcc-ng >=7"])
    package = SbomPackage.from_contents(read_package(path), channel="admin")
    findings = cve.match(cve.load_feed(FEED), [(package.name, package.version)])
    assert {f.vulnerability.id for f in findings} == {"CVE-2022-37434", "CVE-2018-25032"}
    known = [KnownVulnerability.from_finding(f) for f in findings]
    curated = KnownVulnerability.from_api(
        {
            "name": "zlib",
            "version": "1.2.11",
            "sha256": package.sha256,
            "id": "CVE-2022-37434",
            "score": 9.8,
            "severity": "critical",
            "status": "mitigated",
            "reason": "patched in this build",
            "summary": "inflate heap overflow",
        }
    )
    elsewhere = KnownVulnerability("CVE-2022-3602", "openssl", "3.0.5", status="active")
    document = valid_cyclonedx(
        sbom.to_json(sbom.package_bom(package, [*known, curated, elsewhere]))
    )

    vulns = document["vulnerabilities"]
    assert sorted((v["id"], v["analysis"]["state"]) for v in vulns) == [
        ("CVE-2018-25032", "in_triage"),
        ("CVE-2022-37434", "in_triage"),
        ("CVE-2022-37434", "resolved"),
    ]
    zlib_ref = document["metadata"]["component"]["bom-ref"]
    assert all(v["affects"][0]["ref"] == zlib_ref for v in vulns)
    from_feed = next(
        v for v in vulns if v["id"] == "CVE-2022-37434" and v["analysis"]["state"] == "in_triage"
    )
    (rating,) = from_feed["ratings"]
    assert rating["method"] == "CVSSv31" and rating["score"] == 9.8
    assert rating["severity"] == "critical" and rating["vector"].startswith("AV:N/")
    mitigated = next(v for v in vulns if v["analysis"]["state"] == "resolved")
    assert mitigated["analysis"]["detail"] == "mitigated: patched in this build"

    torch = next(v for v in cve.load_feed(FEED) if v.id == "GHSA-53q9-r3pm-6pq6")
    finding = cve.Finding(torch, "pytorch", "2.5.1")
    pytorch = SbomPackage("pytorch", "2.5.1", "py_0", "noarch", "pytorch-2.5.1-py_0.conda")
    v4 = valid_cyclonedx(
        sbom.to_json(sbom.package_bom(pytorch, [KnownVulnerability.from_finding(finding)]))
    )
    assert v4["vulnerabilities"][0]["ratings"][0]["method"] == "CVSSv4"

    advisories = valid_spdx(spdx.package_document(package, known), tmp_path)
    refs = advisories["packages"][0]["externalRefs"]
    assert {r["referenceLocator"] for r in refs if r["referenceCategory"] == "SECURITY"} == {
        "https://nvd.nist.gov/vuln/detail/CVE-2022-37434",
        "https://nvd.nist.gov/vuln/detail/CVE-2018-25032",
    }


def test_ophis_sbom_of_a_package_file(testdata: Path, tmp_path: Path) -> None:
    home = isolated_user(tmp_path)
    path = testdata / "conda" / "conda_format_repo" / "linux-64" / "zlib-1.2.11-h7b6447c_3.tar.bz2"
    printed = ophis(home, "sbom", str(path), "--feed", str(FEED))
    assert printed.returncode == 0, printed.stderr
    document = valid_cyclonedx(printed.stdout)
    assert {v["id"] for v in document["vulnerabilities"]} == {"CVE-2022-37434", "CVE-2018-25032"}

    out = tmp_path / "zlib.spdx.json"
    written = ok_json(ophis(home, "sbom", str(path), "--format", "spdx", "-o", str(out), "--json"))
    assert written == {"path": str(out), "format": "spdx", "packages": 1}
    assert valid_spdx(json.loads(out.read_text()), tmp_path)["packages"][0]["name"] == "zlib"

    missing = ophis(home, "sbom", str(tmp_path / "nope-1.0-0.conda"), "--json")
    assert missing.returncode == 1
    assert "Cannot read the package file" in json.loads(missing.stdout)["message"]
    both = ophis(home, "sbom", str(path), "-n", "base")
    assert both.returncode == 1 and "not both" in both.stderr


# --- an environment -------------------------------------------------------------------------

#: name -> (version, depends): zlib and openssl are affected by the sample feed, the rest not
PACKAGES = {
    "zlib": ("1.2.11", []),
    "openssl": ("3.0.5", []),
    "requests": ("2.31.0", []),
    "app": ("1.0", ["zlib >=1.2", "openssl 3.*", "requests", "__unix"]),
}


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """A real environment, created offline by ``ophis create`` from a local channel."""
    root = tmp_path_factory.mktemp("sbom-env")
    channel = root / "channel"
    for name, (version, depends) in PACKAGES.items():
        make_package(channel / "noarch", name, version, "0", depends=depends, license="MIT")
    index_channel(channel)
    home = isolated_user(root)
    prefix = root / "env"
    args = ("create", "-p", str(prefix), "--override-channels", "-c", channel.as_uri(), "app")
    ok_json(ophis(home, *args, "-y", "--json"))
    return home, prefix


def test_environment_sbom_lists_every_installed_package_with_its_sha256(
    environment: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    home, prefix = environment
    records = {
        json.loads(p.read_text())["name"]: json.loads(p.read_text())
        for p in (prefix / "conda-meta").glob("*.json")
    }
    assert sorted(records) == sorted(PACKAGES)

    printed = ophis(home, "sbom", "-p", str(prefix))
    assert printed.returncode == 0, printed.stderr
    document = valid_cyclonedx(printed.stdout)
    components = {c["name"]: c for c in document["components"]}
    assert sorted(components) == sorted(PACKAGES)
    for name, record in records.items():
        hashes = {h["alg"]: h["content"] for h in components[name]["hashes"]}
        assert hashes["SHA-256"] == record["sha256"]
        assert components[name]["purl"] == (
            f"pkg:conda/{name}@{record['version']}?build=0&channel=channel&subdir=noarch"
            "&type=tar.bz2"
        )
        assert components[name]["licenses"] == [{"license": {"id": "MIT"}}]
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in document["dependencies"]}
    app = components["app"]["bom-ref"]
    assert graph[app] == {components[n]["bom-ref"] for n in ("zlib", "openssl", "requests")}
    assert graph[components["zlib"]["bom-ref"]] == set()
    root = document["metadata"]["component"]["bom-ref"]
    assert graph[root] == {c["bom-ref"] for c in components.values()}
    assert "vulnerabilities" not in document

    with_feed = valid_cyclonedx(ophis(home, "sbom", "-p", str(prefix), "--feed", str(FEED)).stdout)
    affected = {
        (v["id"], ref["ref"].split("@")[0])
        for v in with_feed["vulnerabilities"]
        for ref in v["affects"]
    }
    assert affected == {
        ("CVE-2022-37434", "pkg:conda/zlib"),
        ("CVE-2018-25032", "pkg:conda/zlib"),
        ("CVE-2022-3602", "pkg:conda/openssl"),
    }

    other = ophis(home, "sbom", "-p", str(prefix), "--format", "spdx")
    assert other.returncode == 0, other.stderr
    document = valid_spdx(json.loads(other.stdout), tmp_path)
    by_name = {p["name"]: p for p in document["packages"]}
    assert sorted(by_name) == sorted(PACKAGES)
    for name, record in records.items():
        assert {"algorithm": "SHA256", "checksumValue": record["sha256"]} in by_name[name][
            "checksums"
        ]
    depends = {
        (r["spdxElementId"], r["relatedSpdxElement"])
        for r in document["relationships"]
        if r["relationshipType"] == "DEPENDS_ON"
    }
    assert {
        (by_name["app"]["SPDXID"], by_name[n]["SPDXID"]) for n in ("zlib", "openssl")
    } <= depends
