"""The CPU's microarchitecture (``__archspec``) is asked of py-rattler once per CPU, then read
from the user's cache, so that ``ophis info`` need not import py-rattler each time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.core import platform

pytestmark = pytest.mark.skipif(
    platform._cpu_identity() is None, reason="the CPU is named by /proc/cpuinfo on Linux only"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "ophis" / "archspec.json"


def test_the_first_answer_is_py_rattlers_and_is_remembered(cache: Path) -> None:
    detected = platform._detect_microarchitecture()
    assert platform._microarchitecture() == detected
    saved = json.loads(cache.read_text())
    assert saved == {"cpu": platform._cpu_identity(), "archspec": detected}


def test_a_remembered_answer_is_used_for_the_same_cpu(cache: Path) -> None:
    platform._microarchitecture()
    cache.write_text(json.dumps({"cpu": platform._cpu_identity(), "archspec": "zen9"}))
    assert platform._microarchitecture() == "zen9"


@pytest.mark.parametrize(
    "saved",
    [
        {"cpu": "another CPU", "archspec": "zen9"},
        {"cpu": None, "archspec": "../../etc"},
        {"archspec": "zen9"},
        ["zen9"],
        "not json",
    ],
    ids=["another CPU", "a value that is no name", "no CPU", "a list", "no JSON"],
)
def test_another_cpus_or_a_broken_answer_is_asked_again(cache: Path, saved: object) -> None:
    cache.parent.mkdir(parents=True)
    if isinstance(saved, dict) and saved.get("cpu") is None and "cpu" in saved:
        saved = {**saved, "cpu": platform._cpu_identity()}
    cache.write_text(saved if isinstance(saved, str) else json.dumps(saved))
    assert platform._microarchitecture() == platform._detect_microarchitecture()
    assert json.loads(cache.read_text())["cpu"] == platform._cpu_identity()


def test_an_unwritable_cache_still_answers(cache: Path) -> None:
    cache.parent.parent.mkdir(parents=True, exist_ok=True)
    cache.parent.write_text("a file where the folder should be")
    assert platform._microarchitecture() == platform._detect_microarchitecture()
