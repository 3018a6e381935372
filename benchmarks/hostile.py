"""What hostile input costs the service: time to answer, event-loop stalls, and memory.

    python -m benchmarks.hostile            # ~3 minutes on 2 cores; writes reports/hostile.*

Against the real service (python -m service, the bundled model unless --model):
  * for each class of adversarial input (runs of punctuation and emoji, Zalgo text, a line break
    followed by 20,000 spaces, lone surrogates, JSON nested 5,000 deep, a 5,000-digit number,
    128 such texts in one request, ...): the median and worst time to answer, and the longest a
    /healthz probe sent every 10 ms beside it had to wait, which is the longest the event loop
    (or the GIL) was held;
  * resident memory before and after a million never-seen words, sent as random words in
    requests of 128 texts.
Targets (issue #9): every single text of up to the character limit answered within 100 ms, no
stall over 100 ms, resident memory growing by less than 20 MB per million new words.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import string
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.serving import HOST, ROOT, start
from tests.e2e.server import free_port

LIMIT = 20_000  # SENTIMENT_MAX_TEXT_CHARS


def texts() -> dict[str, str]:
    """One text per class, each LIMIT characters (or as many as the class takes)."""
    rng = random.Random(0)
    n = LIMIT
    return {
        "run of '!'": "!" * n,
        "run of emoji": "😀" * (n // 2),  # 2 UTF-16 units but 1 character each; JSON-escaped
        "run of quotes": "'" * n,
        "random punctuation": "".join(rng.choice("!?.,;:'\"()[]{}-") for _ in range(n)),
        "one 20,000-letter word": "a" * n,
        "words": ("a wonderful film " * n)[:n],
        "Zalgo (combining marks)": "a" + "\u0316\u0301" * ((n - 1) // 2),
        "'<br' and 20,000 spaces": ("<br" + " " * n)[:n],
        "line breaks only": ("<br />" * n)[:n],
        "zero-width only": "\u200b" * n,
        "decomposed accents": ("e\u0301" * n)[:n],
        "apostrophe-s": ("'s" * n)[:n],
        "URL-like": ("http://x.co/" + "ab/" * n)[:n],
        "digits": "7" * n,
        "newlines": "\n" * (n - 1) + "x",
    }


def raw_bodies() -> dict[str, bytes]:
    """Bodies that are hostile as JSON rather than as text."""
    return {
        "lone surrogate": b'{"text": "\\ud800 and more"}',
        "JSON nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
        "a 5,000-digit number": b'{"text": ' + b"9" * 5000 + b"}",
        "128 texts of '!' (4 MB body)": json.dumps({"texts": ["!" * 16_000] * 128}).encode(),
        "128 Zalgo texts": json.dumps(
            {"texts": ["a" + "\u0316\u0301" * 7_000] * 128}, ensure_ascii=False
        ).encode(),
    }


class Prober:
    """GET /healthz every `interval` seconds on its own connection; the longest wait is the
    longest the server's event loop could not answer."""

    def __init__(self, url: str, interval: float = 0.01) -> None:
        self.url, self.interval = url, interval
        self.waits: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                began = time.perf_counter()
                client.get("/healthz")
                self.waits.append(time.perf_counter() - began)
                time.sleep(self.interval)

    def __enter__(self) -> Prober:
        self._thread.start()
        while not self.waits:  # probing before the first request is sent
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        count = len(self.waits)
        while len(self.waits) == count:  # and a probe after the last one answered
            time.sleep(0.001)
        self._stop.set()
        self._thread.join()


def measure(client: httpx.Client, url: str, body: bytes, repeats: int) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    status = client.post("/predict", content=body, headers=headers).status_code  # warm
    times = []
    with Prober(url) as prober:
        for _ in range(repeats):
            began = time.perf_counter()
            status = client.post("/predict", content=body, headers=headers).status_code
            times.append(time.perf_counter() - began)
    return {
        "status": status,
        "answer_ms_median": 1000 * statistics.median(times),
        "answer_ms_max": 1000 * max(times),
        "longest_stall_ms": 1000 * max(prober.waits),
        "probes": len(prober.waits),
    }


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def new_words(client: httpx.Client, count: int, seed: int) -> None:
    """`count` random words nobody has sent before, 100 to a text, 128 texts to a request."""
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    per_request = 128 * 100
    for _ in range(count // per_request):
        batch = [
            " ".join("".join(rng.choices(letters, k=rng.randint(6, 12))) for _ in range(100))
            for _ in range(128)
        ]
        response = client.post("/predict", json={"texts": batch})
        response.raise_for_status()


def memory(client: httpx.Client, pid: int, words: int) -> dict[str, Any]:
    new_words(client, 200_000, seed=1)  # allocator, shape caches and tokenizer reach steady state
    before = rss_bytes(pid)
    began = time.perf_counter()
    new_words(client, words, seed=2)
    after = rss_bytes(pid)
    return {
        "words": words,
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "growth_mb_per_million_words": (after - before) / 2**20 / (words / 1e6),
        "seconds": time.perf_counter() - began,
    }


def markdown(data: dict[str, Any]) -> str:
    lines = [
        "# Hostile input",
        "",
        f"{data['model']}, {data['dtype']}, one worker; {data['machine']}; {data['date']}.",
        f"Command: `{data['command']}`",
        "",
        "| input | status | answer ms (median / max) | longest /healthz wait, ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in data["classes"].items():
        lines.append(
            f"| {name} | {row['status']} | {row['answer_ms_median']:.1f} / "
            f"{row['answer_ms_max']:.1f} | {row['longest_stall_ms']:.1f} |"
        )
    m = data["memory"]
    lines += [
        "",
        f"Resident memory: {m['rss_before_mb']:.0f} MB before and {m['rss_after_mb']:.0f} MB "
        f"after {m['words']:,} never-seen words: {m['growth_mb_per_million_words']:+.1f} MB per "
        f"million ({m['seconds']:.0f} s).",
        "",
        "Targets: single texts answered within 100 ms, no stall over 100 ms, under 20 MB per "
        "million new words.",
    ]
    for target in data["targets"]:
        lines.append(f"- {target}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--repeats", type=int, default=5, help="requests per input class")
    p.add_argument("--words", type=int, default=1_000_000, help="never-seen words for memory")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = {"SENTIMENT_PORT": str(port), "SENTIMENT_LOG_LEVEL": "warning"}
    if args.model:
        env["SENTIMENT_MODEL"] = str(args.model)
    process, _ = start(["python", "-m", "service"], env, url, args.out / "hostile-server.log")
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            info = client.get("/model").json()
            classes = {}
            for name, text in texts().items():
                body = json.dumps({"text": text}).encode()
                classes[name] = measure(client, url, body, args.repeats)
                print(f"{name:32s} {classes[name]}", flush=True)
            for name, body in raw_bodies().items():
                classes[name] = measure(client, url, body, args.repeats)
                print(f"{name:32s} {classes[name]}", flush=True)
            mem = memory(client, process.pid, args.words)
            print(f"memory {mem}", flush=True)
    finally:
        process.terminate()
        process.wait(60)
    singles = [row for name, row in classes.items() if not name.startswith("128")]
    targets = [
        f"single texts: worst answer {max(r['answer_ms_max'] for r in singles):.1f} ms",
        f"longest stall: {max(r['longest_stall_ms'] for r in classes.values()):.1f} ms",
        f"memory: {mem['growth_mb_per_million_words']:+.1f} MB per million new words",
    ]
    data = {
        "model": info["model_version"],
        "dtype": info["serving"]["dtype"],
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} CPUs",
        "date": time.strftime("%Y-%m-%d"),
        "command": "python -m benchmarks.hostile"
        + (f" --model {args.model}" if args.model else ""),
        "classes": classes,
        "memory": mem,
        "targets": targets,
    }
    (args.out / "hostile.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "hostile.md").write_text(markdown(data))
    print(markdown(data))


if __name__ == "__main__":
    main()
