"""conda's own solver expectations (tests/core/test_solve.py) run through ophis's solve().

The cases live in ``data/solver_cases.json``: one dict per case with ``id``, ``index``
(channel names, comma-separated, in priority order), ``specs``, ``installed`` (dist strings
``channel::name-version-build`` looked up in the index), ``history`` (name → spec),
``options`` (SolveRequest fields; ``virtual_packages`` as [name, version] pairs;
``expected_link`` to also check what gets linked), and ``expected`` (the final dists) or
``error`` (the exception name). ``xfail`` gives the reason ophis differs from conda.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import rattler

from ophis.core.channel import ChannelContext, parse_channel
from ophis.core.errors import (
    CondaValueError,
    PackagesNotFoundError,
    ResolvePackageNotFound,
    UnsatisfiableError,
)
from ophis.core.virtual_packages import VirtualPackageSpec
from ophis.manager.solve import SolveRequest, load_repodata, solve, toposort
from ophis.testing.snapshots import SNAPSHOTS, read_snapshot, write_channel

CASES = json.loads((Path(__file__).parent / "data" / "solver_cases.json").read_text())
SUBDIR = "linux-64"
ERRORS = {
    "PackagesNotFoundError": PackagesNotFoundError,
    "ResolvePackageNotFound": ResolvePackageNotFound,
    "UnsatisfiableError": UnsatisfiableError,
}


@pytest.fixture(scope="module")
def channels(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("solver-channels")
    ctx = ChannelContext(root_dir=str(root))
    made = {}
    for name, (filename, with_noarch) in SNAPSHOTS.items():
        folder = write_channel(read_snapshot(testdata / "conda" / filename), root / name, SUBDIR)
        channel = parse_channel(str(folder), ctx)
        repodata = {(channel.base_url, SUBDIR): folder / SUBDIR / "repodata.json"}
        if with_noarch:
            repodata[(channel.base_url, "noarch")] = folder / "noarch" / "repodata.json"
        made[name] = (channel, repodata)
    return made


def _dist(record: rattler.RepoDataRecord, names: dict[str, str]) -> str:
    channel = names.get(str(record.channel).rstrip("/"), str(record.channel))
    return f"{channel}::{record.name.normalized}-{record.version}-{record.build}"


def _prefix_record(record: rattler.RepoDataRecord) -> rattler.PrefixRecord:
    return rattler.PrefixRecord(record, rattler.PrefixPaths())


def _request(case: dict, channels: dict) -> tuple[SolveRequest, dict[str, str]]:
    chosen = [channels[name] for name in case["index"].split(",")]
    repodata: dict = {}
    for _, paths in chosen:
        repodata.update(paths)
    names = {c.base_url: c.name for c, _ in chosen}
    request = SolveRequest(
        specs=(),
        channels=tuple(c for c, _ in chosen),
        subdir=SUBDIR,
        repodata=repodata,
        add_pip_as_python_dependency=False,
    )
    installed = []
    for dist in case["installed"]:
        channel_name, _, rest = dist.partition("::")
        name, version, build = rest.rsplit("-", 2)
        channel = next(c for c, _ in chosen if c.name == channel_name)
        sources = [
            load_repodata(channel, subdir, path)
            for (url, subdir), path in repodata.items()
            if url == channel.base_url
        ]
        record = next(
            r
            for source in sources
            for r in source.load_records(name)
            if str(r.version) == version and str(r.build) == build
        )
        installed.append(_prefix_record(record))
    options = dict(case["options"])
    options.pop("expected_link", None)
    if "virtual_packages" in options:
        options["virtual_packages"] = tuple(
            VirtualPackageSpec(n, v) for n, v in options["virtual_packages"]
        )
    for key in ("aggressive_update_packages",):
        if key in options:
            options[key] = tuple(options[key])
    fields = dict(
        specs=tuple(case["specs"]),
        installed=tuple(installed),
        history_specs=case["history"],
        **options,
    )
    return _replace(request, **fields), names


def _replace(request: SolveRequest, **changes) -> SolveRequest:
    from dataclasses import replace

    return replace(request, **changes)


def _params():
    for case in CASES:
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(strict=True, reason=case["xfail"]))
        yield pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_conda_solver_case(case: dict, channels: dict) -> None:
    request, names = _request(case, channels)
    if "error" in case:
        with pytest.raises(ERRORS[case["error"]]):
            solve(request)
        return
    result = solve(request)
    got = sorted(_dist(r, names) for r in result.final)
    assert got == sorted(case["expected"])
    if "expected_link" in case["options"]:
        assert [_dist(r, names) for r in result.link] == case["options"]["expected_link"]


# --- behaviour beyond the transcribed cases ----------------------------------------------


def test_link_order_is_condas_toposort(channels: dict) -> None:
    """conda's link order: dependencies first, each level alphabetical (test_solve_1)."""
    request, names = _request(
        {"index": "channel-1", "specs": ["numpy"], "installed": [], "history": {}, "options": {}},
        channels,
    )
    result = solve(request)
    assert [_dist(r, names) for r in result.link] == [
        "channel-1::openssl-1.0.1c-0",
        "channel-1::readline-6.2-0",
        "channel-1::sqlite-3.7.13-0",
        "channel-1::system-5.8-1",
        "channel-1::tk-8.5.13-0",
        "channel-1::zlib-1.2.7-0",
        "channel-1::python-3.3.2-0",
        "channel-1::numpy-1.7.1-py33_0",
    ]
    assert result.unlink == ()
    assert result.update_specs == ("numpy",)


def test_unlink_is_reverse_topological_and_kept_records_stay_prefix_records(channels):
    case = next(c for c in CASES if c["id"] == "solve_1_python2_over_numpy")
    request, names = _request(case, channels)
    result = solve(request)
    assert [_dist(r, names) for r in result.unlink] == [
        "channel-1::numpy-1.7.1-py33_0",
        "channel-1::python-3.3.2-0",
    ]
    kept = [r for r in result.final if isinstance(r, rattler.PrefixRecord)]
    assert len(kept) == 6
    assert [_dist(r, names) for r in result.link][-1] == "channel-1::numpy-1.7.1-py27_0"


def test_force_reinstall_relinks_the_same_record(channels):
    case = next(c for c in CASES if c["id"] == "solve_1_python2_over_numpy")
    request, names = _request(case, channels)
    request = _replace(request, specs=("zlib",), force_reinstall=True)
    result = solve(request)
    assert [_dist(r, names) for r in result.link] == ["channel-1::zlib-1.2.7-0"]
    assert [_dist(r, names) for r in result.unlink] == ["channel-1::zlib-1.2.7-0"]


def test_channel_prefix_selects_the_channel(channels):
    request, names = _request(
        {
            "index": "channel-2,channel-4",
            "specs": ["channel-2::python=3.6"],
            "installed": [],
            "history": {},
            "options": {},
        },
        channels,
    )
    result = solve(request)
    python = next(r for r in result.final if r.name.normalized == "python")
    assert _dist(python, names).startswith("channel-2::python-3.6")


def test_strict_priority_refuses_the_lower_channel(channels):
    """conda's strict priority: a name present in channel-4 is never taken from channel-2."""
    base = {"installed": [], "history": {}, "options": {}}
    request, _ = _request(
        {**base, "index": "channel-4,channel-2", "specs": ["python=3.6.2=0"]}, channels
    )
    with pytest.raises(UnsatisfiableError):
        solve(_replace(request, channel_priority="strict"))
    result = solve(_replace(request, channel_priority="disabled"))
    assert any(r.name.normalized == "python" for r in result.final)


def test_unknown_channel_prefix_is_not_found(channels):
    request, _ = _request(
        {
            "index": "channel-1",
            "specs": ["nowhere::numpy"],
            "installed": [],
            "history": {},
            "options": {},
        },
        channels,
    )
    with pytest.raises(PackagesNotFoundError):
        solve(request)


def test_bad_options_are_refused(channels):
    request, _ = _request(
        {"index": "channel-1", "specs": ["numpy"], "installed": [], "history": {}, "options": {}},
        channels,
    )
    with pytest.raises(CondaValueError):
        solve(_replace(request, channel_priority="sometimes"))
    with pytest.raises(CondaValueError):
        solve(_replace(request, no_deps=True, only_deps=True))


def test_unsat_message_names_the_specs(channels):
    case = next(c for c in CASES if c["id"] == "unsat_1")
    request, _ = _request(case, channels)
    with pytest.raises(UnsatisfiableError) as info:
        solve(request)
    assert "numpy=1.5" in info.value.message and "python=3.3" in info.value.message
    assert info.value.remedy


def test_toposort_breaks_cycles():
    def record(name: str, dep: str) -> rattler.PackageRecord:
        build = rattler.BuildString("0")
        return rattler.PackageRecord(name, "1", build, 0, "linux-64", depends=[dep])

    a, b = record("a", "b >=1"), record("b", "a")
    assert [r.name.normalized for r in toposort([b, a])] == ["a", "b"]


def test_index4_solve_is_fast(channels):
    case = next(c for c in CASES if c["id"] == "python2_update_install")
    request, _ = _request(case, channels)
    solve(request)
    start = time.perf_counter()
    solve(request)
    assert time.perf_counter() - start < 2.0
