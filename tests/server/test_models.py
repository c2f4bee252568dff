"""The model catalog on the server: ``ophis model upload`` of GGUF and safetensors variants,
``GET /api/models`` with its filters, ``GET /api/models/<owner>/<name>``, variant downloads
that resume (Range) and verify (sha256), private models hidden as if they did not exist, and
a model file sent by the real ``anaconda upload -t file`` recognised as a model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.browser import chromium
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.http import headers
from ophis.testing.models import GGUF_PARAMETERS, write_gguf, write_safetensors
from ophis.testing.server import RunningServer
from ophis.testing.server_db import add_org, add_user


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    return {
        "F32": write_gguf(folder / "tiny-encoder-f32.gguf", "F32"),
        "Q8_0": write_gguf(folder / "tiny-encoder-q8_0.gguf", "Q8_0"),
        "F16": write_safetensors(folder / "tiny-encoder-f16.safetensors", "F16"),
    }


@pytest.fixture(scope="module")
def alice(server: RunningServer) -> str:
    return add_user(server, "alice")


@pytest.fixture(scope="module")
def model_upload(
    server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[callable]:
    env = isolated_user(tmp_path_factory.mktemp("user"))

    def run(token: str, *args: str) -> dict:
        result = ophis(
            {**env, "OPHIS_SERVER": server.api, "BINSTAR_API_TOKEN": token},
            "model", "upload", *args, "--json",
        )  # fmt: skip
        return {"returncode": result.returncode, **json.loads(result.stdout or "{}")}

    yield run


@pytest.fixture(scope="module")
def uploaded(model_upload: callable, alice: str, weights: dict[str, Path]) -> dict:
    said = model_upload(
        alice, str(weights["F32"]), str(weights["Q8_0"]), str(weights["F16"]),
        "--name", "tiny-encoder", "--summary", "A tiny sentence encoder",
    )  # fmt: skip
    assert said["returncode"] == 0, said
    return said


def test_upload_reads_quantization_and_parameters_from_the_files(uploaded: dict) -> None:
    got = {row["basename"]: row for row in uploaded["files"]}
    assert {name: (row["format"], row["quantization"]) for name, row in got.items()} == {
        "tiny-encoder/1.0/tiny-encoder-f32.gguf": ("gguf", "F32"),
        "tiny-encoder/1.0/tiny-encoder-q8_0.gguf": ("gguf", "Q8_0"),
        "tiny-encoder/1.0/tiny-encoder-f16.safetensors": ("safetensors", "F16"),
    }
    assert {row["parameters"] for row in got.values()} == {GGUF_PARAMETERS}
    assert {row["status"] for row in got.values()} == {"uploaded"}


def test_the_catalog_lists_the_model_with_its_card(server: RunningServer, uploaded: dict) -> None:
    [model] = httpx.get(f"{server.api}/models", params={"q": "tiny"}).json()
    assert model == {
        "owner": "alice",
        "name": "tiny-encoder",
        "summary": "A tiny sentence encoder",
        "task": "embedding",
        "architecture": model["architecture"],
        "parameters": GGUF_PARAMETERS,
        "context_length": model["context_length"],
        "license": model["license"],
        "tokenizer": model["tokenizer"],
        "public": True,
        "quantizations": ["F16", "F32", "Q8_0"],
        "url": f"{server.url}/alice/tiny-encoder/model",
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"task": "embedding"}, True),
        ({"task": "text-generation"}, False),
        ({"quantization": "q8_0"}, True),
        ({"quantization": "Q4_K_M"}, False),
        ({"min_parameters": GGUF_PARAMETERS, "max_parameters": GGUF_PARAMETERS}, True),
        ({"min_parameters": GGUF_PARAMETERS + 1}, False),
        ({"max_parameters": GGUF_PARAMETERS - 1}, False),
        ({"q": "sentence encoder"}, True),
        ({"q": "llama"}, False),
        ({"min_parameters": "", "max_parameters": ""}, True),
    ],
)
def test_search_filters(server: RunningServer, uploaded: dict, query: dict, found: bool) -> None:
    names = [m["name"] for m in httpx.get(f"{server.api}/models", params=query).json()]
    assert ("tiny-encoder" in names) is found


@pytest.mark.parametrize(
    ("query", "said"),
    [({"task": "dancing"}, "not a task"), ({"min_parameters": "many"}, "not a parameter count")],
)
def test_search_refuses_what_it_cannot_filter_by(
    server: RunningServer, query: dict, said: str
) -> None:
    response = httpx.get(f"{server.api}/models", params=query)
    assert response.status_code == 400 and said in response.json()["error"]


def test_the_model_lists_its_variants(server: RunningServer, uploaded: dict) -> None:
    model = httpx.get(f"{server.api}/models/alice/tiny-encoder").json()
    assert model["versions"] == ["1.0"] and model["latest_version"] == "1.0"
    assert (model["task"], model["architecture"], model["tokenizer"]) == (
        "embedding", "bert", "bert"
    )  # fmt: skip
    assert (model["context_length"], model["license"]) == (512, "apache-2.0")
    sent = {row["basename"]: row for row in uploaded["files"]}
    for variant in model["variants"]:
        assert variant["sha256"] == sent[variant["basename"]]["sha256"]
        assert variant["parameters"] == GGUF_PARAMETERS
        assert variant["labels"] == ["main"] and variant["version"] == "1.0"
    assert sorted(v["quantization"] for v in model["variants"]) == ["F16", "F32", "Q8_0"]


def _header(response: httpx.Response, name: str) -> str | None:
    """A header of the answer or of the redirect that led to it (S3 storage redirects)."""
    return next((r.headers[name] for r in [*response.history, response] if name in r.headers), None)


def test_a_variant_downloads_resumably_and_is_counted(
    server: RunningServer, uploaded: dict, weights: dict[str, Path]
) -> None:
    model = httpx.get(f"{server.api}/models/alice/tiny-encoder").json()
    [variant] = [v for v in model["variants"] if v["quantization"] == "Q8_0"]
    data = weights["Q8_0"].read_bytes()
    with httpx.Client(follow_redirects=True) as client:
        whole = client.get(variant["download_url"])
        assert whole.status_code == 200 and whole.content == data
        assert _header(whole, "X-Checksum-Sha256") == hashlib.sha256(data).hexdigest()
        assert whole.headers["Content-Length"] == str(len(data))
        assert "ETag" in whole.headers
        rest = client.get(variant["download_url"], headers={"Range": "bytes=1000-"})
        assert rest.status_code == 206 and rest.content == data[1000:]
        beyond = client.get(variant["download_url"], headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
    again = httpx.get(f"{server.api}/models/alice/tiny-encoder").json()
    [counted] = [v for v in again["variants"] if v["quantization"] == "Q8_0"]
    assert counted["downloads"] >= variant["downloads"] + 2
    stats = httpx.get(f"{server.api}/stats/alice/tiny-encoder").json()
    assert stats["total"] >= counted["downloads"]


def test_a_private_labelled_model_is_seen_only_with_a_token_that_reads_it(
    server: RunningServer, model_upload: callable, alice: str, weights: dict[str, Path]
) -> None:
    said = model_upload(
        alice, str(weights["Q8_0"]), "--name", "secret-encoder", "--private", "--label", "dev"
    )
    assert said["returncode"] == 0, said
    bob = add_user(server, "bob")
    for token in (None, bob):
        listed = httpx.get(f"{server.api}/models", headers=headers(token)).json()
        assert "secret-encoder" not in [m["name"] for m in listed]
        hidden = httpx.get(f"{server.api}/models/alice/secret-encoder", headers=headers(token))
        missing = httpx.get(f"{server.api}/models/alice/no-such-model", headers=headers(token))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"].replace("secret-encoder", "X") == missing.json()[
            "error"
        ].replace("no-such-model", "X")
    model = httpx.get(f"{server.api}/models/alice/secret-encoder", headers=headers(alice)).json()
    [variant] = model["variants"]
    assert variant["labels"] == ["dev"]
    assert httpx.get(variant["download_url"]).status_code == 404
    mine = httpx.get(variant["download_url"], headers=headers(alice), follow_redirects=True)
    assert mine.content == weights["Q8_0"].read_bytes()
    listed = httpx.get(f"{server.api}/models", headers=headers(alice)).json()
    assert "secret-encoder" in [m["name"] for m in listed]


def test_a_model_file_sent_by_anaconda_upload_is_a_model(
    server: RunningServer, anaconda: AnacondaClient, alice: str, weights: dict[str, Path]
) -> None:
    client = as_user(anaconda, alice)
    client(
        "upload", "-t", "file", "--package", "encoder-by-anaconda", "--version", "2.0",
        "--summary", "An encoder",
        str(weights["F32"]), check=True,
    )  # fmt: skip
    model = httpx.get(f"{server.api}/models/alice/encoder-by-anaconda").json()
    [variant] = model["variants"]
    assert (variant["format"], variant["quantization"], variant["parameters"]) == (
        "gguf", "F32", GGUF_PARAMETERS
    )  # fmt: skip


def test_the_pages_show_parameters_and_quantizations_in_chromium(
    server: RunningServer, uploaded: dict
) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{server.url}/search/models")
        page.select_option("select[name=task]", "embedding")
        page.select_option("select[name=quantization]", "Q8_0")
        page.click("form[role=search] button[type=submit]")
        row = page.locator("tr[data-model='alice/tiny-encoder']")
        assert row.locator("td.parameters").inner_text() == "4.2K"
        assert row.locator(".quantization").all_inner_texts() == ["F16", "F32", "Q8_0"]
        row.locator("a").first.click()
        page.wait_for_url("**/alice/tiny-encoder/model")
        variants = page.locator("table.variants tbody tr")
        assert sorted(variants.locator("td.quantization").all_inner_texts()) == [
            "F16", "F32", "Q8_0"
        ]  # fmt: skip
        assert set(variants.locator("td.parameters").all_inner_texts()) == {"4.2K"}
        assert f"{GGUF_PARAMETERS:,}" in page.locator("dd.parameters").inner_text()
        page.goto(f"{server.url}/search/models?quantization=Q4_K_M")
        assert "No model matches." in page.locator("table.models").inner_text()


def test_a_model_copies_to_another_label_and_owner_as_packages_do(
    server: RunningServer, uploaded: dict, alice: str
) -> None:
    add_org(server, "alice-lab", "alice")
    with httpx.Client(base_url=server.api, headers=headers(alice)) as api:
        copy = "/copy/package/alice/tiny-encoder/1.0/"
        assert api.post(copy, json={"to_channel": "stable"}).status_code == 200
        assert api.post(copy, json={"to_owner": "alice-lab"}).status_code == 200
        mine = api.get("/models/alice/tiny-encoder").json()
        lab = api.get("/models/alice-lab/tiny-encoder").json()
    assert {tuple(v["labels"]) for v in mine["variants"]} == {("main", "stable")}
    assert sorted(v["sha256"] for v in lab["variants"]) == sorted(
        v["sha256"] for v in mine["variants"]
    )
    assert lab["parameters"] == GGUF_PARAMETERS and lab["task"] == "embedding"
