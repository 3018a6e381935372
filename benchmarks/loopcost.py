"""CPU time per request of the service, split by thread: how much of the event loop's time one
short request costs. This is the figure that caps throughput on a small machine, and the one the
service's design notes quote (gc.freeze, the bare /predict endpoint, logging off the loop).

    python -m benchmarks.loopcost [--model DIR] [--seconds 8] [--concurrency 64] [NAME=VALUE ...]

It starts `python -m service` with the given SENTIMENT_* settings, drives it with single short
texts, and reads the server's per-thread CPU counters from /proc (Linux only).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

from benchmarks.loadgen import encode_requests, load
from benchmarks.serving import HOST, ROOT, start

PORT = 8713


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each thread; the event loop is the main thread."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        out["event loop" if tid == str(pid) else f"thread {tid}"] = (
            int(fields[11]) + int(fields[12])
        ) / ticks
    return out


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument(
        "settings", nargs="*", metavar="NAME=VALUE", help="e.g. SENTIMENT_TORCH_THREADS=1"
    )
    args = p.parse_args()
    env = {"SENTIMENT_PORT": str(PORT), **dict(kv.split("=", 1) for kv in args.settings)}
    if args.model:
        env["SENTIMENT_MODEL"] = str(args.model)
    log = ROOT / "reports" / "loopcost-service.log"
    log.parent.mkdir(exist_ok=True)
    server, _ = start([sys.executable, "-m", "service"], env, f"http://{HOST}:{PORT}", log)
    try:
        texts = [
            f"A moving story and a fine cast, number {i}; I would watch it again."
            for i in range(1000)
        ]
        requests = encode_requests(HOST, PORT, "/predict", texts)
        load(HOST, PORT, requests, args.concurrency, 2.0)  # warm-up, not counted
        before, mine = thread_cpu_seconds(server.pid), own_cpu_seconds()
        result = load(HOST, PORT, requests, args.concurrency, args.seconds).summary()
        after, mine = thread_cpu_seconds(server.pid), own_cpu_seconds() - mine
    finally:
        server.terminate()
        server.wait(60)
    n = result["requests"]
    per_thread = {name: 1e6 * (after[name] - before.get(name, 0.0)) / n for name in after}
    print(
        f"{result['requests_per_s']:,.0f} requests/s at concurrency {args.concurrency}, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, {result['errors']} errors"
    )
    print(f"server CPU per request: {sum(per_thread.values()):.0f} us, of which")
    for name, micros in sorted(per_thread.items(), key=lambda kv: -kv[1]):
        if micros >= 1:
            print(f"  {name:<16} {micros:6.0f} us")
    print(f"load generator CPU per request: {1e6 * mine / n:.0f} us")


if __name__ == "__main__":
    main()
