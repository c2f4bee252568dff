"""ophis.security.cve: OSV and CVE JSON 5 records read into one shape (the sample feed of
real advisories), names mapped to conda's, CVSS scores computed from vectors, and matching
with conda's version ordering."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.security import cve
from ophis.security.cve import AffectedRange, FeedError, Vulnerability, load_feed, match
from ophis.testing.packages import make_package

FEED = Path(cve.__file__).parents[1] / "testing" / "data" / "cve-feed"


@pytest.fixture(scope="module")
def feed() -> dict[str, Vulnerability]:
    return {v.id: v for v in load_feed(FEED)}


def test_the_sample_feed_reads_both_formats(feed: dict[str, Vulnerability]) -> None:
    assert set(feed) == {
        "CVE-2022-37434",
        "CVE-2018-25032",
        "CVE-2022-3602",
        "CVE-2023-24329",
        "CVE-2022-0778",
        "GHSA-8q59-q68h-6hv4",
        "GHSA-j8r2-6x86-q33q",
        "GHSA-53q9-r3pm-6pq6",
    }
    zlib = feed["CVE-2022-37434"]  # CVE JSON 5: the score as published, the range from ADP
    assert (zlib.score, zlib.severity) == (9.8, "critical")
    assert zlib.affected == (AffectedRange("conda", "zlib", "<1.2.13"),)
    assert zlib.summary.startswith("zlib through 1.2.12")
    assert zlib.published == "2022-08-05T00:00:00.000Z"
    openssl = feed["CVE-2022-3602"]
    assert openssl.summary == "X.509 Email Address 4-byte Buffer Overflow"
    assert openssl.affected == (AffectedRange("conda", "openssl", ">=3.0.0,<3.0.7"),)


def test_nvd_api_answers_read_cpe_configurations(feed: dict[str, Vulnerability]) -> None:
    bn_mod_sqrt = feed["CVE-2022-0778"]
    assert bn_mod_sqrt.affected == (  # the debian_linux "o" CPE is not a package
        AffectedRange("conda", "openssl", ">=1.0.2,<1.0.2zd|>=1.1.1,<1.1.1n|>=3.0.0,<3.0.2"),
    )
    assert [(s.version, s.base) for s in bn_mod_sqrt.scores] == [("3.1", 7.5)]  # not v2
    assert bn_mod_sqrt.references == ("https://www.openssl.org/news/secadv/20220315.txt",)


def test_letter_versions_and_prereleases_match_as_advisories_mean(
    feed: dict[str, Vulnerability],
) -> None:
    """conda sorts 1.1.1m below 1.1.1 and 3.0.0rc1 below 3.0.0; OpenSSL's ranges mean
    1.1.1 <= 1.1.1m < 1.1.1n."""
    versions = ["1.0.2", "1.0.2u", "1.0.1u", "1.1.1", "1.1.1k", "1.1.1n", "1.1.1w", "3.0.0rc1"]
    versions += ["3.0.1", "3.0.2"]
    found = match([feed["CVE-2022-0778"]], [("openssl", v) for v in versions])
    assert [f.version for f in found] == ["1.0.2", "1.0.2u", "1.1.1", "1.1.1k", "3.0.0rc1", "3.0.1"]
    assert cve.in_conda_order(">=2.3.0,<2.31.0|<1.0") == ">=2.3.0dev,<2.31.0|<1.0"


def test_osv_scores_come_from_vectors_and_pypi_names_map_to_conda(
    feed: dict[str, Vulnerability],
) -> None:
    pyyaml = feed["GHSA-8q59-q68h-6hv4"]
    assert pyyaml.aliases == ("CVE-2020-14343", "PYSEC-2021-142")
    assert [(s.version, s.base) for s in pyyaml.scores] == [("3.1", 9.8)]
    assert pyyaml.affected == (AffectedRange("pypi", "pyyaml", "<5.4"),)
    torch = feed["GHSA-53q9-r3pm-6pq6"]
    assert [(s.version, s.base) for s in torch.scores] == [("4.0", 9.3)]
    assert torch.affected[0].name == "pytorch"  # the curated map: torch -> pytorch
    requests = feed["GHSA-j8r2-6x86-q33q"]
    assert (requests.score, requests.severity) == (6.1, "medium")


@pytest.mark.parametrize(
    ("ecosystem", "name", "conda"),
    [
        ("pypi", "PyYAML", "pyyaml"),
        ("pypi", "msgpack", "msgpack-python"),
        ("pypi", "tables", "pytables"),
        ("pypi", "torch", "pytorch"),
        ("pypi", "scikit_learn", "scikit-learn"),
        ("pypi", "Pillow", "pillow"),
        ("cpe", "openssl:openssl", "openssl"),
        ("cpe", "python_software_foundation:python", "python"),
        ("cpe", "someone:Some_Tool", "some_tool"),
    ],
)
def test_the_name_map(ecosystem: str, name: str, conda: str) -> None:
    assert cve.conda_name(ecosystem, name) == conda


def test_matching_uses_conda_version_order(feed: dict[str, Vulnerability]) -> None:
    packages = [
        ("zlib", "1.2.11"),
        ("zlib", "1.2.12"),
        ("zlib", "1.2.13"),
        ("openssl", "3.0.6"),
        ("openssl", "3.0.7"),
        ("openssl", "1.1.1q"),
        ("python", "3.10.11"),
        ("python", "3.10.12"),
        ("python", "3.12.0"),
        ("pyyaml", "5.4"),
        ("pyyaml", "5.3.1"),
        ("pytorch", "2.5.1"),
        ("requests", "2.31.0"),
        ("requests", "not a version"),
        ("unrelated", "1.0"),
    ]
    found = {(f.vulnerability.id, f.name, f.version) for f in match(feed.values(), packages)}
    assert found == {
        ("CVE-2018-25032", "zlib", "1.2.11"),
        ("CVE-2022-37434", "zlib", "1.2.11"),
        ("CVE-2022-37434", "zlib", "1.2.12"),
        ("CVE-2022-3602", "openssl", "3.0.6"),
        ("CVE-2023-24329", "python", "3.10.11"),
        ("GHSA-8q59-q68h-6hv4", "pyyaml", "5.3.1"),
        ("GHSA-53q9-r3pm-6pq6", "pytorch", "2.5.1"),
    }


def test_osv_events_and_versions_become_one_conda_spec(tmp_path: Path) -> None:
    record = {
        "id": "OSV-TEST-1",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
                "ranges": [
                    {"type": "GIT", "events": [{"introduced": "abc123"}]},
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"introduced": "1.0"},
                            {"fixed": "1.4"},
                            {"introduced": "2.0"},
                            {"last_affected": "2.1"},
                            {"introduced": "3.0"},
                        ],
                    },
                ],
                "versions": ["0.9"],
            },
            {"package": {"ecosystem": "npm", "name": "left-pad"}, "versions": ["1.0"]},
        ],
    }
    (tmp_path / "one.json").write_text(json.dumps(record))
    (vulnerability,) = load_feed(tmp_path / "one.json")
    assert vulnerability.affected == (
        AffectedRange("pypi", "demo-pkg", ">=1.0,<1.4|>=2.0,<=2.1|>=3.0|==0.9"),
    )
    assert vulnerability.score is None and vulnerability.severity == "none"
    found = match(
        [vulnerability], [("demo-pkg", v) for v in ("0.9", "1.3", "1.4", "2.1", "2.2", "9")]
    )
    assert [f.version for f in found] == ["0.9", "1.3", "2.1", "9"]


def test_stored_records_round_trip(feed: dict[str, Vulnerability]) -> None:
    for vulnerability in feed.values():
        assert cve.from_json(json.loads(json.dumps(cve.to_json(vulnerability)))) == vulnerability


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not readable JSON"),
        ('{"hello": "world"}', "neither OSV, CVE JSON 5 nor NVD"),
        ('{"dataType": "CVE_RECORD", "containers": {}}', "lacks a field"),
    ],
)
def test_a_bad_feed_file_is_named_in_the_error(tmp_path: Path, content: str, says: str) -> None:
    bad = tmp_path / "feed" / "bad.json"
    bad.parent.mkdir()
    bad.write_text(content)
    with pytest.raises(FeedError, match=says) as caught:
        load_feed(tmp_path / "feed")
    assert str(bad) in caught.value.message and caught.value.remedy
    with pytest.raises(FeedError, match="no such file"):
        load_feed(tmp_path / "missing")


def test_matching_is_fast_enough_for_big_feeds() -> None:
    """2,000 records x 20,000 packages well under a second (the benchmark runs 10,000 x
    100,000)."""
    vulns = [
        Vulnerability(
            f"CVE-X-{i}",
            (),
            "",
            None,
            None,
            (),
            (AffectedRange("conda", f"pkg{i % 500}", f"<{i % 7}.{i % 5}"),),
            (),
        )
        for i in range(2000)
    ]
    packages = [(f"pkg{i % 1000}", f"{i % 9}.{i % 4}.{i % 3}") for i in range(20_000)]
    started = time.perf_counter()
    findings = match(vulns, packages)
    assert time.perf_counter() - started < 2.0
    assert findings


def test_ophis_mirror_leaves_out_vulnerable_packages(tmp_path: Path, home: dict[str, str]) -> None:
    upstream = tmp_path / "upstream"
    (upstream / "noarch").mkdir(parents=True)
    for version in ("1.2.11", "1.2.12", "1.2.13"):
        make_package(upstream / "noarch", "zlib", version)
    index_channel(upstream)

    def mirrored(*options: str) -> set[str]:
        dest = tmp_path / f"mirror{len(options)}"
        command = [sys.executable, "-m", "ophis", "mirror", str(upstream), str(dest)]
        result = subprocess.run(
            [*command, "--json", "-s", "noarch", *options],
            capture_output=True,
            text=True,
            env=home,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return set(json.loads((dest / "noarch" / "repodata.json").read_text())["packages"])

    assert mirrored("--cve-feed", str(FEED), "--max-score", "9") == {"zlib-1.2.13-0.tar.bz2"}
    assert mirrored("--cve-feed", str(FEED), "--max-score", "9.9") == {
        "zlib-1.2.11-0.tar.bz2",
        "zlib-1.2.12-0.tar.bz2",
        "zlib-1.2.13-0.tar.bz2",
    }
