"""What a model swap costs a running service: time, latency, memory; and what a shadow costs.

    python -m benchmarks.reload            # ~3 minutes on 2 cores
    python -m benchmarks.reload --quick    # 1 swap, shorter phases

The service (2 workers unless --workers) serves the bundled model from a model root holding it
twice, as `a` and as `b` (the same weights under another model_version, so that responses say
which served them). Under a closed-loop load of short texts (--clients), it is swapped from one
to the other --swaps times, each swap confirmed at once so that the next one loads its model
anew, with a pause before, between and after. Measured, medians over the swaps:

  * the time from the admin call to its answer, which comes once every worker serves the new
    model (the call waits for them);
  * p50 and p99 latency of the requests sent before any swap, while a call was under way, and
    after the last one;
  * the workers' resident memory (summed) before, at its peak during, and after (confirm
    released the old model);
  * then /predict's throughput with a shadow candidate scoring 100% of its texts, against
    without, side by side, and the requests that failed (none may).

Writes reports/reload.md and .json, and records the headline figures in benchmarks/figures.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks import figures
from benchmarks.loadgen import LoadResult, encode_requests, load
from benchmarks.machine import cpu_description
from benchmarks.memory import rss_bytes, start
from benchmarks.texts import DEFAULT_IMDB, load_texts
from model.api import bundled_model_path

ROOT = Path(__file__).resolve().parents[1]
HOST, PORT = "127.0.0.1", 8731
KEY = "benchmark-admin-key-0123"
ADMIN = {"Authorization": f"Bearer {KEY}"}
MIB = 1024**2


def model_root(folder: Path) -> Path:
    """The bundled model as `a`, and again as `b` under another version."""
    shutil.copytree(bundled_model_path(), folder / "a")
    shutil.copytree(bundled_model_path(), folder / "b")
    meta = json.loads((folder / "b" / "metadata.json").read_text())
    meta["model_version"] += "-b"  # metadata is not among the checksummed files
    (folder / "b" / "metadata.json").write_text(json.dumps(meta))
    return folder


def workers(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in map(int, children):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found or [pid]


def cpu_seconds(pid: int, thread: str | None = None) -> float:
    """CPU time of the workers' threads (those named `thread`, or all), from /proc."""
    total = 0
    for worker in workers(pid):
        for task in Path(f"/proc/{worker}/task").iterdir():
            try:
                if thread is not None and (task / "comm").read_text().strip() != thread:
                    continue
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the thread ended meanwhile
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def total_rss(pid: int) -> int:
    return sum(rss_bytes(p) for p in workers(pid))


class Background:
    """A load for `seconds` on a thread, and the workers' memory sampled meanwhile."""

    def __init__(self, requests: list[bytes], clients: int, seconds: float, pid: int) -> None:
        self.samples: list[tuple[float, int]] = []
        self.result: LoadResult | None = None
        self._stop = threading.Event()
        self._done = threading.Event()  # ends the load early, once the swaps are over
        self._load = threading.Thread(
            target=lambda: setattr(
                self, "result", load(HOST, PORT, requests, clients, seconds, self._done)
            )
        )
        self._memory = threading.Thread(target=self._sample, args=(pid,), daemon=True)

    def __enter__(self) -> Background:
        self._load.start()
        self._memory.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._load.join()
        self._stop.set()
        self._memory.join()

    def _sample(self, pid: int) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), total_rss(pid)))
            self._stop.wait(0.2)


def swaps(args: argparse.Namespace, requests: list[bytes], pid: int) -> dict:
    """--swaps swaps under load; the figures of the whole timeline."""
    calls: list[tuple[float, float]] = []
    pause = args.pause
    seconds = pause + args.swaps * (pause + 300)  # at most; it ends when the swaps are done
    with httpx.Client(base_url=f"http://{HOST}:{PORT}", timeout=300) as admin:
        before_rss = total_rss(pid)
        with Background(requests, args.clients, seconds, pid) as bg:
            time.sleep(pause)
            for i in range(args.swaps):
                started = time.perf_counter()
                r = admin.post("/admin/model", json={"path": "ab"[(i + 1) % 2]}, headers=ADMIN)
                calls.append((started, time.perf_counter()))
                if r.status_code != 200:
                    raise SystemExit(f"swap {i + 1} failed: {r.status_code} {r.text}")
                admin.post("/admin/model/confirm", headers=ADMIN)
                time.sleep(pause)
            end_of_swaps = time.perf_counter()
        after_rss = total_rss(pid)
    result = bg.result
    assert result is not None
    sent, latency = result.sent_at, result.latencies_ms
    during = np.zeros(len(sent), dtype=bool)
    for started, ended in calls:
        during |= (sent >= started) & (sent <= ended)
    before = sent < calls[0][0]
    after = (sent > calls[-1][1] + 1.0) & (sent < end_of_swaps)  # a second to settle
    peak = max((rss for t, rss in bg.samples if calls[0][0] <= t <= calls[-1][1]), default=0)

    def quantiles(mask: np.ndarray) -> dict[str, float]:
        chosen = latency[mask]
        if not chosen.size:
            raise SystemExit(f"no request in a window: {len(sent)} sent; calls {calls}")
        return {
            "requests": int(mask.sum()),
            "p50_ms": float(np.percentile(chosen, 50)),
            "p99_ms": float(np.percentile(chosen, 99)),
        }

    return {
        "swap_seconds": statistics.median(end - start for start, end in calls),
        "swaps": [round(end - start, 3) for start, end in calls],
        "latency": {"before": quantiles(before), "during": quantiles(during)},
        "after": quantiles(after),
        "rss_mib": {
            "before": before_rss / MIB,
            "peak_during": peak / MIB,
            "after": after_rss / MIB,
        },
        "errors": result.errors,
        "statuses": result.statuses,
    }


def shadow(args: argparse.Namespace, requests: list[bytes], pid: int) -> dict:
    """/predict's texts/s without and with a shadow at 100%, alternating, medians; and the
    share of the workers' CPU time that the shadow threads took."""
    rates: dict[str, list[float]] = {"alone": [], "shadow": []}
    shares: list[float] = []
    errors = 0
    with httpx.Client(base_url=f"http://{HOST}:{PORT}", timeout=300) as admin:
        for _ in range(args.rounds):
            for name in ("alone", "shadow"):
                if name == "shadow":
                    body = {"path": "a" if _serving(admin) == "b" else "b", "share": 1.0}
                    admin.post("/admin/shadow", json=body, headers=ADMIN).raise_for_status()
                cpu = (cpu_seconds(pid), cpu_seconds(pid, "shadow"))
                result = load(HOST, PORT, requests, args.clients, args.seconds)
                rates[name].append(result.summary()["texts_per_s"])
                if name == "shadow":
                    used = cpu_seconds(pid) - cpu[0]
                    shares.append((cpu_seconds(pid, "shadow") - cpu[1]) / max(used, 1e-9))
                errors += result.errors
                if name == "shadow":
                    admin.delete("/admin/shadow", headers=ADMIN).raise_for_status()
    alone, with_shadow = (statistics.median(rates[k]) for k in ("alone", "shadow"))
    return {
        "alone_texts_per_s": alone,
        "shadow_texts_per_s": with_shadow,
        "shadow_cpu_share": statistics.median(shares),
        "errors": errors,
    }


def _serving(admin: httpx.Client) -> str:
    path = admin.get("/admin/model", headers=ADMIN).json()["serving"]["path"]
    return Path(path).name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--swaps", type=int, default=3)
    p.add_argument("--pause", type=float, default=8.0, help="seconds of load between swaps")
    p.add_argument("--seconds", type=float, default=10.0, help="each shadow comparison's load")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the shadow comparison")
    p.add_argument("--imdb", type=Path, default=DEFAULT_IMDB)
    p.add_argument("--quick", action="store_true", help="1 swap, 5 s phases, 1 round")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    if args.quick:
        args.swaps, args.pause, args.seconds, args.rounds = 1, 5.0, 5.0, 1
    args.out.mkdir(parents=True, exist_ok=True)
    requests = encode_requests(HOST, PORT, "/predict", load_texts(args.imdb, 1024)["short"])
    folder = model_root(Path(tempfile.mkdtemp(prefix="reload-")))
    env = {
        "SENTIMENT_PORT": str(PORT),
        "SENTIMENT_WORKERS": str(args.workers),
        "SENTIMENT_MODEL": str(folder / "a"),
        "SENTIMENT_MODEL_ROOT": str(folder),
        "SENTIMENT_ADMIN_KEYS": KEY,
    }
    service = start(env, args.out / "reload-service.log", PORT)
    try:
        dtype = httpx.get(f"http://{HOST}:{PORT}/model").json()["serving"]["dtype"]
        swapped = swaps(args, requests, service.pid)
        shadowed = shadow(args, requests, service.pid)
    finally:
        service.terminate()
        service.wait(60)
        shutil.rmtree(folder, ignore_errors=True)
    command = ("python -m benchmarks.reload " + " ".join(sys.argv[1:])).strip()
    data = {
        "meta": {"command": command, "cpu": cpu_description(), "dtype": dtype, **vars(args)},
        "swaps": swapped,
        "shadow": shadowed,
    }
    data["meta"] = {k: str(v) if isinstance(v, Path) else v for k, v in data["meta"].items()}
    (args.out / "reload.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "reload.md").write_text(markdown(data))
    print(markdown(data))
    record(data)


def markdown(data: dict) -> str:
    meta, s, sh = data["meta"], data["swaps"], data["shadow"]
    lat, rss = s["latency"], s["rss_mib"]
    return "\n".join(
        [
            "# Model swaps under load",
            "",
            f"`{meta['command']}`",
            "",
            f"{meta['cpu']}; {meta['workers']} workers, {meta['dtype']}, {meta['clients']} "
            f"clients sending short texts; {meta['swaps']} swaps of the bundled model's size.",
            "",
            "- Swap call to every worker serving the new model: median "
            f"**{s['swap_seconds']:.1f} s** ({', '.join(f'{x:.1f}' for x in s['swaps'])}).",
            f"- Latency p50 / p99: before {lat['before']['p50_ms']:.0f} / "
            f"{lat['before']['p99_ms']:.0f} ms; during a swap {lat['during']['p50_ms']:.0f} / "
            f"{lat['during']['p99_ms']:.0f} ms;"
            f" after {s['after']['p50_ms']:.0f} / {s['after']['p99_ms']:.0f} ms.",
            f"- Workers' resident memory: before {rss['before']:.0f} MiB, peak during "
            f"{rss['peak_during']:.0f} MiB, after {rss['after']:.0f} MiB.",
            f"- Failed requests during the swaps: {s['errors']} ({s['statuses']}).",
            f"- Shadow at 100%: {sh['shadow_texts_per_s']:.0f} texts/s against "
            f"{sh['alone_texts_per_s']:.0f} alone "
            f"({sh['shadow_texts_per_s'] / sh['alone_texts_per_s']:.2f}x); the shadow threads took "
            f"{100 * sh['shadow_cpu_share']:.0f}% of the workers' CPU time; failed requests: "
            f"{sh['errors']}.",
            "",
        ]
    )


def record(data: dict) -> None:
    meta, s, sh = data["meta"], data["swaps"], data["shadow"]
    command, lat, rss = meta["command"], s["latency"], s["rss_mib"]
    figures.record(
        "reload.swap_seconds",
        round(s["swap_seconds"], 1),
        "s",
        command,
        f"a model swap under load, from the call to every one of {meta['workers']} workers "
        f"serving the new model; {s['errors']} failed requests",
    )
    figures.record(
        "reload.p99_during_vs_before",
        round(lat["during"]["p99_ms"] / lat["before"]["p99_ms"], 2),
        "x",
        command,
        f"p99 latency while a swap is under way over p99 before it ({lat['during']['p99_ms']:.0f}"
        f" against {lat['before']['p99_ms']:.0f} ms)",
    )
    figures.record(
        "reload.rss_after_vs_before",
        round(rss["after"] / rss["before"], 2),
        "x",
        command,
        f"the workers' resident memory after a confirmed swap over before it ({rss['after']:.0f}"
        f" against {rss['before']:.0f} MiB; {rss['peak_during']:.0f} at the peak)",
    )
    figures.record(
        "reload.shadow_throughput",
        round(sh["shadow_texts_per_s"] / sh["alone_texts_per_s"], 2),
        "x",
        command,
        f"/predict texts/s with a shadow candidate scoring 100% of them, over without (the "
        f"shadow took {100 * sh['shadow_cpu_share']:.0f}% of the CPU); {sh['errors']} failed "
        "requests",
    )


if __name__ == "__main__":
    main()
