"""The serving benchmark: one command, one report, everything measured side by side.

    python -m benchmarks.serving            # ~12 minutes on 2 cores; --quick for a 2-minute look

On the same texts, round after round:
  (a) the in-process limit: SentimentModel.predict in batches of 64;
  (b) the service (python -m service) under a closed-loop load at concurrency 1, 16, 64, 256;
  (c) the naive baseline (benchmarks/naive_app.py): the same model behind a plain FastAPI route
      that runs one forward pass per request.
Two text sets: short (20 words of a review) and long (whole IMDB test reviews). Each figure is
the median over the rounds; the ratios are computed from those medians. It also records the
time from starting the service to /readyz answering 200, and its peak resident memory.
Writes reports/benchmark.md and reports/benchmark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import torch

from benchmarks import figures, report
from benchmarks.inprocess import texts_per_second
from benchmarks.loadgen import encode_requests, load
from benchmarks.machine import cpu_description
from benchmarks.texts import DEFAULT_IMDB, load_texts
from model import SentimentModel
from model.runtime import resolve_device, resolve_dtype
from service.settings import usable_cpus

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def start(
    command: list[str], env: dict[str, str], url: str, log: Path
) -> tuple[subprocess.Popen, float]:
    """Start a server; return it and the seconds until /readyz answered 200."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    while time.perf_counter() - started < 120:
        if process.poll() is not None:
            raise SystemExit(f"{command} exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{command} was not ready within 120 s; see {log}")


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (peak resident set) of the process and its children, from /proc."""
    total = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument(
        "--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split (folder or archive)"
    )
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64, 256])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured load")
    p.add_argument("--rounds", type=int, default=3, help="repetitions; figures are medians")
    p.add_argument("--dtype", default="auto", help="for all three: auto|fp32|bf16")
    p.add_argument(
        "--threads", type=int, default=0, help="torch threads in-process (0: every usable CPU)"
    )
    p.add_argument(
        "--naive-threads",
        type=int,
        default=1,
        help="torch threads per request in the naive baseline (its best setting here is 1)",
    )
    p.add_argument(
        "--service-env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="extra SENTIMENT_* settings for the service, e.g. SENTIMENT_WORKERS=2",
    )
    p.add_argument("--quick", action="store_true", help="1 round of 4 s at concurrency 1 and 64")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.concurrency = 1, 4.0, [1, 64]

    dtype = resolve_dtype(args.dtype, resolve_device("auto"))
    threads = args.threads or usable_cpus()
    torch.set_num_threads(threads)
    texts = load_texts(args.imdb, 2048)
    model = SentimentModel.load(args.model, dtype=dtype)
    args.out.mkdir(parents=True, exist_ok=True)
    model_env = {"SENTIMENT_MODEL": str(args.model)} if args.model else {}
    service_env = {
        **model_env,
        "SENTIMENT_PORT": "8711",
        "SENTIMENT_DTYPE": dtype,
        **dict(kv.split("=", 1) for kv in args.service_env),
    }
    naive_env = {
        "NAIVE_MODEL": str(args.model or ""),
        "NAIVE_DTYPE": dtype,
        "NAIVE_TORCH_THREADS": str(args.naive_threads),
    }
    service, ready_s = start(
        [sys.executable, "-m", "service"],
        service_env,
        f"http://{HOST}:8711",
        args.out / "service.log",
    )
    serving = httpx.get(f"http://{HOST}:8711/model").json()["serving"]
    naive, _ = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.naive_app:app",
            "--port",
            "8712",
            "--log-level",
            "warning",
        ],
        naive_env,
        f"http://{HOST}:8712",
        args.out / "naive.log",
    )
    results: dict[str, dict] = {}
    try:
        for kind in ("short", "long"):
            results[kind] = run_set(model, texts[kind], kind, args)
        rss = peak_rss_bytes(service.pid)
    finally:
        for process in (service, naive):
            process.terminate()
            process.wait(60)
    meta = {
        "model_version": model.version,
        "dtype": dtype,
        "in_process_torch_threads": threads,
        "naive_torch_threads": args.naive_threads,
        "service": {
            k: serving[k]
            for k in ("workers", "torch_threads", "dtype", "max_batch_size", "max_batch_wait_ms")
        },
        "cpus": usable_cpus(),
        "cpu": cpu_description(),
        "torch": torch.__version__,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "service_env": service_env,
        "ready_seconds": ready_s,
        "service_peak_rss_bytes": rss,
        "command": "python -m benchmarks.serving " + " ".join(sys.argv[1:]),
    }
    data = {"meta": meta, "results": results, "targets": report.targets(meta, results)}
    (args.out / "benchmark.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "benchmark.md").write_text(report.markdown(data))
    print(report.markdown(data))
    record_figures(meta, results)


def record_figures(meta: dict, results: dict) -> None:
    """The README's serving figures: the service at concurrency 64 against the in-process
    limit and the naive server, on short texts, and against the limit on long ones."""
    command, dtype = meta["command"], meta["dtype"]
    short = results["short"]["load"].get("service@64")
    if short is None:
        return
    naive = results["short"]["load"]["naive@64"]
    figures.record(
        "serving.short_texts_per_s",
        round(short["texts_per_s"]),
        "texts/s",
        command,
        f"/predict, short texts (20 words), 64 concurrent clients, {dtype}: texts/s "
        f"(p99 {short['p99_ms']:.0f} ms)",
    )
    figures.record(
        "serving.short_vs_naive",
        round(short["texts_per_s"] / naive["texts_per_s"], 1),
        "x",
        command,
        "/predict, short texts, 64 clients, over a plain FastAPI route that runs the model per "
        "request",
    )
    figures.record(
        "serving.short_vs_in_process",
        round(short["texts_per_s"] / results["short"]["in_process_texts_per_s"], 2),
        "x",
        command,
        "/predict, short texts, 64 clients, over SentimentModel.predict in batches of 64",
    )
    long = results["long"]["load"]["service@64"]
    figures.record(
        "serving.long_vs_in_process",
        round(long["texts_per_s"] / results["long"]["in_process_texts_per_s"], 2),
        "x",
        command,
        "/predict, whole IMDB reviews, 64 clients, over SentimentModel.predict in batches of 64",
    )


def run_set(model: SentimentModel, texts: list[str], kind: str, args: argparse.Namespace) -> dict:
    """In-process, service and naive, interleaved round by round; medians per concurrency."""
    requests = {port: encode_requests(HOST, port, "/predict", texts) for port in (8711, 8712)}
    in_process_count = 1024 if kind == "short" else 256
    for port in (8711, 8712):  # warm both servers on this text set, not measured
        load(HOST, port, requests[port], 16, 2.0)
    rounds: dict[str, list] = {"in_process": []}
    for r in range(args.rounds):
        rate = texts_per_second(model, texts[:in_process_count], 64, rounds=1)
        rounds["in_process"].append(rate)
        print(f"[{kind} round {r + 1}] in-process batch 64: {rate:.1f} texts/s", flush=True)
        for c in args.concurrency:
            for name, port in (("service", 8711), ("naive", 8712)):
                summary = load(HOST, port, requests[port], c, args.seconds).summary()
                rounds.setdefault(f"{name}@{c}", []).append(summary)
                print(
                    f"[{kind} round {r + 1}] {name:>7} c={c:<3} "
                    f"{summary['texts_per_s']:8.1f} texts/s  p50 {summary['p50_ms']:7.1f} ms  "
                    f"p99 {summary['p99_ms']:7.1f} ms  errors {summary['errors']}",
                    flush=True,
                )
    out: dict = {"in_process_texts_per_s": statistics.median(rounds["in_process"]), "load": {}}
    for key, summaries in rounds.items():
        if key != "in_process":
            out["load"][key] = {
                m: statistics.median(s[m] for s in summaries)
                for m in ("texts_per_s", "p50_ms", "p95_ms", "p99_ms")
            }
            out["load"][key]["errors"] = sum(s["errors"] for s in summaries)
    return out


if __name__ == "__main__":
    main()
