"""The explanation benchmark: what one explanation costs, and what explanations cost /predict.

    python -m benchmarks.explain --model DIR        # an artifact that exports classify()
    python -m benchmarks.explain --model DIR --quick  # a look in about a minute

One service (python -m service), started once, measured in two parts:
  (a) ms per explanation: /explain of one text at a time on the otherwise idle service, short
      and long texts (the serving benchmark's sets); the median of X-Inference-Time (the
      Integrated Gradients themselves) and of the round trip, with the completeness errors;
  (b) /predict throughput under a closed-loop load of single short texts at one concurrency,
      without and with explanations running at their limit beside it (enough clients sending
      long texts to keep every explanation thread busy), alternating round by round. The
      figure is the median over rounds of with / without; the target is a drop under 10%.
Writes reports/explain.md and reports/explain.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import torch

from benchmarks.loadgen import encode_requests, load
from benchmarks.serving import HOST, ROOT, start
from benchmarks.texts import DEFAULT_IMDB, load_texts
from model import bundled_model_path, load_artifact
from model.attribution import supports_explanations
from model.runtime import resolve_device, resolve_dtype
from service.settings import usable_cpus

PORT = 8721
URL = f"http://{HOST}:{PORT}"


def per_text(texts: list[str], count: int) -> dict[str, Any]:
    """One /explain at a time: medians of the server's IG time and of the round trip."""
    inference, total, errors, tokens, deltas, within = [], [], [], [], [], 0
    with httpx.Client(base_url=URL, timeout=120) as client:
        for text in texts[:2]:  # warm-up, not measured
            client.post("/explain", json={"text": text})
        for text in texts[:count]:
            r = client.post("/explain", json={"text": text})
            if r.status_code != 200:
                errors.append(r.status_code)
                continue
            body = r.json()
            inference.append(float(r.headers["x-inference-time"]))
            total.append(float(r.headers["x-total-time"]))
            tokens.append(len(body["tokens"]))
            deltas.append(abs(body["completeness"]["delta"]))
            within += body["completeness"]["within_tolerance"]
    return {
        "texts": len(inference),
        "errors": errors,
        "median_ms": statistics.median(inference) if inference else None,
        "p90_ms": _percentile(inference, 0.9),
        "median_total_ms": statistics.median(total) if total else None,
        "median_tokens": statistics.median(tokens) if tokens else None,
        "within_tolerance": within,
        "max_abs_delta": max(deltas) if deltas else None,
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def beside(predict: list[bytes], explain: list[bytes], args: argparse.Namespace) -> dict[str, dict]:
    """/predict's load with explanations running at their limit beside it."""
    outcome: dict[str, Any] = {}

    def explaining() -> None:  # its own thread and event loop; it outlasts the /predict load
        outcome["explain"] = load(HOST, PORT, explain, args.explain_clients, args.seconds + 2)

    thread = threading.Thread(target=explaining)
    thread.start()
    threading.Event().wait(1.0)  # the explanation threads are busy before the clock starts
    outcome["predict"] = load(HOST, PORT, predict, args.concurrency, args.seconds)
    thread.join()
    return {k: v.summary() for k, v in outcome.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="artifact directory with classify()")
    p.add_argument("--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split")
    p.add_argument("--texts", type=int, default=24, help="explained texts of each length in (a)")
    p.add_argument("--concurrency", type=int, default=64, help="/predict clients in (b)")
    p.add_argument("--explain-clients", type=int, default=0, help="0: twice the concurrency")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each load in (b)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of (b); figures are medians")
    p.add_argument("--dtype", default="auto", help="the service's: auto|fp32|bf16")
    p.add_argument("--service-env", nargs="*", default=[], metavar="NAME=VALUE")
    p.add_argument("--quick", action="store_true", help="4 texts, 1 round of 3 s at c=16")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    if args.quick:
        args.texts, args.rounds, args.seconds, args.concurrency = 4, 1, 3.0, 16
    model = args.model or bundled_model_path()
    artifact = load_artifact(model)
    if not supports_explanations(artifact.program):
        raise SystemExit(
            f"{model}: {artifact.version} has no classify() entry point, so /explain answers "
            "501; pass --model with an artifact exported by the current training code"
        )
    dtype = resolve_dtype(args.dtype, resolve_device("auto"))
    env = {
        "SENTIMENT_MODEL": str(model),
        "SENTIMENT_PORT": str(PORT),
        "SENTIMENT_DTYPE": dtype,
        **dict(kv.split("=", 1) for kv in args.service_env),
    }
    texts = load_texts(args.imdb, max(256, args.texts))
    args.out.mkdir(parents=True, exist_ok=True)
    service, _ = start([sys.executable, "-m", "service"], env, URL, args.out / "explain.log")
    try:
        serving = httpx.get(f"{URL}/model").json()["serving"]
        limits = serving["explain"]
        if not limits["available"]:
            raise SystemExit(f"/explain is unavailable: {limits['unavailable']}")
        args.explain_clients = args.explain_clients or 2 * limits["concurrency"]
        cost = {}
        for kind in ("short", "long"):
            cost[kind] = per_text(texts[kind], args.texts)
            print(f"[{kind}] explanation: {cost[kind]}", flush=True)
        predict = encode_requests(HOST, PORT, "/predict", texts["short"])
        explain = encode_requests(HOST, PORT, "/explain", texts["long"])
        load(HOST, PORT, predict, args.concurrency, 2.0)  # warm-up, not measured
        rounds: list[dict] = []
        for r in range(args.rounds):
            alone = load(HOST, PORT, predict, args.concurrency, args.seconds).summary()
            together = beside(predict, explain, args)
            rounds.append({"alone": alone, **together})
            print(
                f"[round {r + 1}] /predict c={args.concurrency}: {alone['texts_per_s']:.1f} "
                f"texts/s alone, {together['predict']['texts_per_s']:.1f} with explanations "
                f"({together['explain']['texts_per_s']:.2f} explained/s, statuses "
                f"{together['explain']['statuses']})",
                flush=True,
            )
    finally:
        service.terminate()
        service.wait(60)
    ratios = [r["predict"]["texts_per_s"] / r["alone"]["texts_per_s"] for r in rounds]
    meta = {
        "model_version": artifact.version,
        "dtype": dtype,
        "cpus": usable_cpus(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "service": {k: serving[k] for k in ("inference_threads", "torch_threads", "dtype")},
        "explain": limits,
        "concurrency": args.concurrency,
        "explain_clients": args.explain_clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "command": "python -m benchmarks.explain " + " ".join(sys.argv[1:]),
    }
    data = {
        "meta": meta,
        "per_text": cost,
        "rounds": rounds,
        "predict_ratio_median": statistics.median(ratios),
        "predict_drop_target": 0.10,
    }
    (args.out / "explain.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.out / "explain.md").write_text(markdown(data))
    print(markdown(data))


def markdown(data: dict[str, Any]) -> str:
    meta, cost = data["meta"], data["per_text"]
    limits = meta["explain"]
    lines = [
        "# Explanation benchmark",
        "",
        f"`{meta['command']}`",
        "",
        f"Model `{meta['model_version']}`, /predict in {meta['dtype']}, explanations in fp32 "
        f"({limits['steps']} Integrated Gradients steps, {limits['concurrency']} at a time, "
        f"niceness {limits['nice']}); {meta['cpus']} CPUs ({meta['cpu']}), "
        f"torch {meta['torch']}. The load generator runs on the same machine.",
        "",
        "## (a) One explanation, on the idle service",
        "",
        "| texts | explained | median tokens | median ms (IG) | p90 ms (IG) | median ms (total) "
        "| within tolerance | max abs delta | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, c in cost.items():
        lines.append(
            f"| {kind} | {c['texts']} | {_f(c['median_tokens'], 0)} | {_f(c['median_ms'])} | "
            f"{_f(c['p90_ms'])} | {_f(c['median_total_ms'])} | {c['within_tolerance']} of "
            f"{c['texts']} | {_f(c['max_abs_delta'], 4)} | {c['errors'] or 'none'} |"
        )
    lines += [
        "",
        f"## (b) /predict (short texts, concurrency {meta['concurrency']}) with and without "
        f"explanations ({meta['explain_clients']} clients of long texts)",
        "",
        "| round | alone texts/s | with texts/s | with / alone | with p99 ms | explained/s "
        "| /explain statuses |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for i, r in enumerate(data["rounds"], 1):
        lines.append(
            f"| {i} | {r['alone']['texts_per_s']:,.1f} | {r['predict']['texts_per_s']:,.1f} | "
            f"{r['predict']['texts_per_s'] / r['alone']['texts_per_s']:.3f} | "
            f"{r['predict']['p99_ms']:.1f} | {r['explain']['texts_per_s']:.2f} | "
            f"{r['explain']['statuses']} |"
        )
    drop = 1 - data["predict_ratio_median"]
    met = "met" if drop < data["predict_drop_target"] else "**missed**"
    lines += [
        "",
        f"Median /predict throughput with explanations running: {data['predict_ratio_median']:.3f}"
        f" of its throughput alone, a drop of {drop:.1%} (target under "
        f"{data['predict_drop_target']:.0%}: {met}).",
    ]
    return "\n".join(lines) + "\n"


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


if __name__ == "__main__":
    main()
