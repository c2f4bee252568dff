"""What a mirror run plans, from repodata alone: filters and the diff with the mirror."""

from __future__ import annotations

import hashlib

import pytest

from ophis.mirror.plan import Filters, MirrorFilterError, RecordSpec, plan_subdir


def record(name: str, version: str, build: str = "0", **extra: object) -> dict:
    digest = hashlib.sha256(f"{name}{version}{build}".encode()).hexdigest()
    return {
        **{"name": name, "version": version, "build": build, "build_number": 0},
        **{"sha256": digest, "size": 10, **extra},
    }


def repodata(*records: dict) -> dict:
    return {
        "packages": {f"{r['name']}-{r['version']}-{r['build']}.tar.bz2": r for r in records},
        "packages.conda": {},
    }


UPSTREAM = repodata(
    record("numpy", "1.25.2"),
    record("numpy", "1.26.4", "py311_0"),
    record("numpy", "1.26.4", "py312_0"),
    record("numpy", "2.0.1", license="BSD-3-Clause"),
    record("pandas", "2.2.0", license="BSD-3-Clause"),
    record("python", "3.12.1", license="PSF-2.0"),
)


def names(filters: Filters) -> list[str]:
    plan = plan_subdir("noarch", UPSTREAM, None, {}, filters)
    return sorted(plan.publish)


def test_include_takes_conda_specs_and_globs() -> None:
    assert names(Filters.parse(include=("numpy >=1.26,<2",))) == [
        "numpy-1.26.4-py311_0.tar.bz2",
        "numpy-1.26.4-py312_0.tar.bz2",
    ]
    assert names(Filters.parse(include=("numpy=1.26.4=py312*",))) == [
        "numpy-1.26.4-py312_0.tar.bz2"
    ]
    assert names(Filters.parse(include=("numpy>=2",))) == ["numpy-2.0.1-0.tar.bz2"]
    assert names(Filters.parse(include=("p*",))) == [
        "pandas-2.2.0-0.tar.bz2",
        "python-3.12.1-0.tar.bz2",
    ]


def test_exclude_license_and_newest_combine() -> None:
    chosen = Filters.parse(exclude=("pandas",), licenses=("bsd-*",))
    assert names(chosen) == ["numpy-2.0.1-0.tar.bz2"]
    newest = Filters.parse(include=("numpy",), newest=2)
    assert names(newest) == [
        "numpy-1.26.4-py311_0.tar.bz2",
        "numpy-1.26.4-py312_0.tar.bz2",  # every build of a kept version
        "numpy-2.0.1-0.tar.bz2",
    ]


def test_bad_filters_are_refused_with_a_remedy() -> None:
    with pytest.raises(MirrorFilterError) as caught:
        RecordSpec.parse("numpy >=>1")
    assert "numpy >=1.26" in caught.value.remedy
    with pytest.raises(MirrorFilterError):
        Filters.parse(newest=0)


def test_the_diff_fetches_new_and_changed_files_and_patches_records() -> None:
    mirror = repodata(record("numpy", "1.25.2"), record("numpy", "2.0.1"), record("old", "1"))
    present = {fn: 10 for fn in mirror["packages"]}
    plan = plan_subdir("noarch", UPSTREAM, mirror, present)
    assert "numpy-1.25.2-0.tar.bz2" not in plan.fetch
    assert plan.patched == ("numpy-2.0.1-0.tar.bz2",)  # its license changed, not its file
    assert plan.remove == ("old-1-0.tar.bz2",)
    assert len(plan.fetch) == 4
    truncated = {**present, "numpy-1.25.2-0.tar.bz2": 3}
    assert "numpy-1.25.2-0.tar.bz2" in plan_subdir("noarch", UPSTREAM, mirror, truncated).fetch
    kept = plan_subdir("noarch", UPSTREAM, mirror, present, keep_removed=True)
    assert kept.remove == () and "old-1-0.tar.bz2" in kept.publish
