"""Legacy features as conda classic ranks them (``ophis.manager.conda_ranking``).

A channel in the style of the mkl/nomkl years: ``nomkl`` tracks the ``nomkl`` feature, the
nomkl builds of numpy and blas carry ``features: nomkl`` and a higher build number (so a
solver ignoring features would take them). conda classic's rules (``conda/resolve.py``):
a featured build ranks last while no installed package tracks its feature, first once one
does; a ``[features=...]`` spec matches the features set exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rattler

from ophis.core.channel import ChannelContext, parse_channel
from ophis.indexer.channel_index import index_channel
from ophis.manager.solve import SolveRequest, solve
from ophis.manager.specs import parse_spec
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package

SUBDIR = "linux-64"


@pytest.fixture(scope="module")
def channel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mkl/nomkl channel, indexed by ophis."""
    root = tmp_path_factory.mktemp("features") / "channel"
    arch = root / SUBDIR
    make_package(arch, "openblas", "0.2.19", "0", subdir=SUBDIR)
    make_package(arch, "mkl", "2017.0.1", "0", subdir=SUBDIR)
    make_package(root / "noarch", "nomkl", "1.0", "0", track_features="nomkl")
    make_package(arch, "numpy", "1.11.3", "mkl_0", subdir=SUBDIR, depends=["mkl"])
    make_package(
        arch,
        "numpy",
        "1.11.3",
        "nomkl_1",
        subdir=SUBDIR,
        depends=["openblas"],
        features="nomkl",
    )
    make_package(arch, "blas", "1.0", "mkl", subdir=SUBDIR, build_number=0)
    make_package(arch, "blas", "1.0", "openblas", subdir=SUBDIR, build_number=1, features="nomkl")
    index_channel(root)
    return root


@pytest.fixture(scope="module")
def request_for(channel_dir: Path):
    root = channel_dir
    channel = parse_channel(str(root), ChannelContext(root_dir=str(root)))
    repodata = {(channel.base_url, s): root / s / "repodata.json" for s in (SUBDIR, "noarch")}

    def make(specs, installed=(), history=None, track_features=()) -> SolveRequest:
        return SolveRequest(
            specs=tuple(specs),
            channels=(channel,),
            subdir=SUBDIR,
            repodata=repodata,
            installed=tuple(installed),
            history_specs=history or {},
            track_features=tuple(track_features),
            add_pip_as_python_dependency=False,
        )

    return make


def _builds(result) -> dict[str, str]:
    return {r.name.normalized: str(r.build) for r in result.final}


def test_a_featured_build_ranks_last_while_its_feature_is_off(request_for) -> None:
    """conda: numpy's nomkl build needs a package tracking nomkl; none is asked for."""
    assert _builds(solve(request_for(["numpy"]))) == {"numpy": "mkl_0", "mkl": "0"}


def test_nomkl_switches_the_feature_on(request_for) -> None:
    """`conda install nomkl numpy`: the tracker activates the nomkl builds."""
    builds = _builds(solve(request_for(["nomkl", "numpy"])))
    assert builds == {"nomkl": "0", "numpy": "nomkl_1", "openblas": "0"}


def test_the_track_features_setting_switches_a_feature_on(request_for) -> None:
    """conda's ``track_features: [nomkl]`` setting, without installing nomkl."""
    result = solve(request_for(["numpy"], track_features=["nomkl"]))
    assert _builds(result) == {"numpy": "nomkl_1", "openblas": "0"}


def test_installing_nomkl_swaps_an_installed_mkl_numpy(request_for) -> None:
    """conda ranks the feature above keeping what is installed (mkl, which nothing needs
    any more, stays: ophis keeps what nobody asked to remove)."""
    first = solve(request_for(["numpy"]))
    installed = [rattler.PrefixRecord(r, rattler.PrefixPaths()) for r in first.final]
    result = solve(request_for(["nomkl"], installed, {"numpy": "numpy"}))
    assert _builds(result)["numpy"] == "nomkl_1"
    assert [r.name.normalized for r in result.unlink] == ["numpy"]


def test_a_features_spec_matches_the_features_set(request_for) -> None:
    """`numpy[features=nomkl]`: conda's exact match on the features set."""
    assert parse_spec("numpy[features=nomkl]").features == frozenset({"nomkl"})
    assert _builds(solve(request_for(["numpy[features=nomkl]"])))["numpy"] == "nomkl_1"


def test_blas_by_build_string(request_for) -> None:
    """`blas=*=mkl` is a build-string match; plain `blas` leaves the nomkl build last."""
    assert _builds(solve(request_for(["blas=*=mkl"]))) == {"blas": "mkl"}
    assert _builds(solve(request_for(["blas"]))) == {"blas": "mkl"}
    assert _builds(solve(request_for(["blas=*=openblas"]))) == {"blas": "openblas"}
    assert _builds(solve(request_for(["nomkl", "blas"])))["blas"] == "openblas"


@pytest.mark.parametrize("specs", [["nomkl", "numpy"], ["numpy[features=nomkl]"]])
def test_the_command_line_takes_the_nomkl_build(channel_dir, specs, tmp_path) -> None:
    """What a script sees: `ophis create --dry-run --json` links numpy's nomkl build."""
    env = isolated_user(tmp_path) | {"CONDA_SUBDIR": SUBDIR}
    document = ok_json(
        ophis(
            env,
            "create",
            "-p",
            str(tmp_path / "env"),
            "--dry-run",
            "--json",
            "--override-channels",
            "-c",
            channel_dir.as_uri(),
            *specs,
        )
    )
    linked = {a["name"]: a["build_string"] for a in document["actions"]["LINK"]}
    assert linked["numpy"] == "nomkl_1"
