"""Resident memory of one worker under shape-varied load: the figure that decides how many
workers fit in a container.

    python -m benchmarks.memory                 # ~5 minutes: 2 settings x 2 rounds x 60 s
    python -m benchmarks.memory --quick         # 1 round of 30 s each

Each setting starts the service (one worker, the bundled model unless --model), waits for
/readyz, records the worker's resident memory, then runs a closed-loop load of --clients
connections, each sending one IMDB test review cut to a random number of words (1 to 1,000: nearly
every batch is a shape the worker has not seen), sampling the worker's resident memory every
0.25 s. Settings are run in turn, round after round, so that a drift of the machine hits both.

The settings compared: the service as it ships ("default") and the same with the bounds this
benchmark was written to test turned off ("unbounded": oneDNN's own cache capacity, 1,024, and
glibc's default number of malloc arenas; see service/engine/native.py). Writes reports/memory.md and
reports/memory.json, and the figures of the "default" setting to benchmarks/figures.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from benchmarks import figures
from benchmarks.loadgen import encode_requests, load
from benchmarks.machine import cpu_description
from benchmarks.texts import DEFAULT_IMDB, load_texts

ROOT = Path(__file__).resolve().parents[1]
HOST, PORT = "127.0.0.1", 8721
MIB = 1024**2
SETTINGS = {
    "default": {},
    "unbounded": {"SENTIMENT_ONEDNN_CACHE_CAPACITY": "1024", "SENTIMENT_MALLOC_ARENAS": "0"},
}


def varied_texts(imdb: Path, count: int, seed: int = 0) -> list[str]:
    """IMDB test reviews, each cut to a random number of words: a new shape almost every batch."""
    rng = random.Random(seed)
    reviews = load_texts(imdb, count, seed)["long"]
    out = []
    for review in reviews:
        words = review.split()
        out.append(" ".join(words[: rng.randint(1, min(len(words), 1000))]))
    return out


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def start(env: dict[str, str], log: Path, port: int = PORT) -> subprocess.Popen[bytes]:
    """The service (python -m service) with `env` over this environment, ready on `port`. An
    empty value removes the variable (the library's own default then applies)."""
    environment = {k: v for k, v in {**os.environ, **env}.items() if v != ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=environment,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the service was not ready within 180 s; see {log}")


def soak(pid: int, requests: list[bytes], clients: int, seconds: float) -> dict[str, float]:
    """Load for `seconds`, sampling the worker's resident memory; the figures of one run."""
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_bytes(pid))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    ready = rss_bytes(pid)
    sampler.start()
    try:
        result = load(HOST, PORT, requests, clients, seconds).summary()
    finally:
        done.set()
        sampler.join()
    return {
        "ready_mib": ready / MIB,
        "peak_mib": max(samples) / MIB,
        "end_mib": samples[-1] / MIB,
        "texts_per_s": result["texts_per_s"],
        "p99_ms": result["p99_ms"],
        "errors": result["errors"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0, help="length of each soak")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--dtype", default="auto", help="the service's SENTIMENT_DTYPE")
    p.add_argument("--quick", action="store_true", help="1 round of 30 s per setting")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 30.0
    args.out.mkdir(parents=True, exist_ok=True)
    requests = encode_requests(HOST, PORT, "/predict", varied_texts(args.imdb, 2048))
    base = {"SENTIMENT_PORT": str(PORT), "SENTIMENT_DTYPE": args.dtype, "SENTIMENT_WORKERS": "1"}
    if args.model:
        base["SENTIMENT_MODEL"] = str(args.model)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SETTINGS}
    dtype = version = ""
    for r in range(args.rounds):
        for name, env in SETTINGS.items():
            service = start({**base, **env}, args.out / f"memory-{name}.log")
            try:
                info = httpx.get(f"http://{HOST}:{PORT}/model").json()
                dtype, version = info["serving"]["dtype"], info["model_version"]
                run = soak(service.pid, requests, args.clients, args.seconds)
            finally:
                service.terminate()
                service.wait(60)
            runs[name].append(run)
            print(
                f"[round {r + 1}] {name:>9}: " + ", ".join(f"{k} {v:.1f}" for k, v in run.items())
            )
    medians = {
        name: {key: statistics.median(run[key] for run in rs) for key in rs[0]}
        for name, rs in runs.items()
    }
    command = "python -m benchmarks.memory " + " ".join(sys.argv[1:])
    meta = {
        "command": command.strip(),
        "cpu": cpu_description(),
        "model_version": version,
        "dtype": dtype,
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    data = {"meta": meta, "medians": medians, "runs": runs}
    (args.out / "memory.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "memory.md").write_text(markdown(data))
    print(markdown(data))
    ours, theirs = medians["default"], medians["unbounded"]
    figures.record(
        "memory.peak_mib",
        round(ours["peak_mib"]),
        "MiB",
        command,
        f"one worker's peak resident memory over {args.seconds:g} s of shape-varied load "
        f"({args.clients} clients, {dtype}); {round(theirs['peak_mib'])} MiB with the bounds off",
    )
    figures.record(
        "memory.throughput_with_bounds",
        round(ours["texts_per_s"] / theirs["texts_per_s"], 2),
        "x",
        command,
        "one worker's texts/s under that load with the bounds over without them",
    )


def markdown(data: dict) -> str:
    meta = data["meta"]
    lines = [
        "# Worker memory under shape-varied load",
        "",
        f"`{meta['command']}`",
        "",
        f"Model `{meta['model_version']}`, {meta['dtype']}, {meta['cpu']}; {meta['clients']} "
        f"clients, {meta['seconds']:g} s per soak, median of {meta['rounds']} rounds.",
        "",
        "| setting | RSS ready (MiB) | peak (MiB) | end (MiB) | texts/s | p99 (ms) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in data["medians"].items():
        lines.append(
            f"| {name} | {m['ready_mib']:.0f} | {m['peak_mib']:.0f} | {m['end_mib']:.0f} | "
            f"{m['texts_per_s']:.1f} | {m['p99_ms']:.0f} | {m['errors']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
