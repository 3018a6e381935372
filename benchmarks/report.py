"""The serving benchmark's report: the targets of the service issue, and a markdown rendering."""

from __future__ import annotations

from typing import Any

GIB = 1024**3


def targets(meta: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured value and whether it was met."""
    rows = []

    def add(name: str, measured: float, goal: float, higher_is_better: bool, unit: str) -> None:
        met = measured >= goal if higher_is_better else measured < goal
        rows.append(
            {
                "target": name,
                "measured": measured,
                "goal": goal,
                "unit": unit,
                "met": met,
                "at_least": higher_is_better,
            }
        )

    for kind, share in (("short", 0.6), ("long", 0.8)):
        at64 = results.get(kind, {}).get("load", {}).get("service@64")
        if at64:
            limit = results[kind]["in_process_texts_per_s"]
            add(
                f"{kind}: service at c=64 / in-process limit",
                at64["texts_per_s"] / limit,
                share,
                True,
                "x",
            )
    short = results.get("short", {}).get("load", {})
    if "service@64" in short and "naive@64" in short:
        add(
            "short: service / naive at c=64",
            short["service@64"]["texts_per_s"] / short["naive@64"]["texts_per_s"],
            5.0,
            True,
            "x",
        )
        add("short: service p99 at c=64", short["service@64"]["p99_ms"], 150.0, False, "ms")
    add("ready after start", meta["ready_seconds"], 5.0, False, "s")
    add("service peak resident memory", meta["service_peak_rss_bytes"] / GIB, 1.0, False, "GiB")
    return rows


def markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    lines = [
        "# Serving benchmark",
        "",
        f"`{meta['command']}`",
        "",
        f"Model `{meta['model_version']}`, {meta['dtype']}, {meta['cpus']} CPUs ({meta['cpu']}), "
        f"torch {meta['torch']}. Torch threads: {meta['in_process_torch_threads']} in-process, "
        f"{meta['service']['torch_threads']} per service worker ({meta['service']['workers']} "
        f"worker(s), batches of up to {meta['service']['max_batch_size']}), "
        f"{meta['naive_torch_threads']} in the naive server. Closed-loop load of "
        f"single-text requests, {meta['seconds']:g} s per measurement, median of "
        f"{meta['rounds']} rounds; the load generator runs on the same machine.",
        "",
    ]
    for kind, result in data["results"].items():
        limit = result["in_process_texts_per_s"]
        lines += [
            f"## {kind} texts",
            "",
            f"In-process limit (`SentimentModel.predict`, batches of 64): **{limit:,.1f} texts/s**",
            "",
            _row(_COLUMNS),
            _row(["---:"] * len(_COLUMNS)),
        ]
        concurrencies = sorted({int(k.split("@")[1]) for k in result["load"]})
        for c in concurrencies:
            s, n = result["load"][f"service@{c}"], result["load"][f"naive@{c}"]
            errors = f" ({s['errors']} errors)" if s["errors"] else ""
            lines.append(
                _row(
                    [
                        str(c),
                        f"{s['texts_per_s']:,.1f}{errors}",
                        f"{s['p50_ms']:.1f}",
                        f"{s['p95_ms']:.1f}",
                        f"{s['p99_ms']:.1f}",
                        f"{n['texts_per_s']:,.1f}",
                        f"{n['p50_ms']:.1f}",
                        f"{n['p99_ms']:.1f}",
                        f"{s['texts_per_s'] / limit:.2f}",
                        f"{s['texts_per_s'] / max(n['texts_per_s'], 1e-9):.1f}",
                    ]
                )
            )
        lines.append("")
    lines += ["## Targets", "", "| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for t in data["targets"]:
        goal = f"{'>=' if t['at_least'] else '<'} {t['goal']:g} {t['unit']}"
        met = "yes" if t["met"] else "**no**"
        lines.append(_row([t["target"], f"{t['measured']:.2f} {t['unit']}", goal, met]))
    return "\n".join(lines) + "\n"


_COLUMNS = [
    "concurrency",
    "service texts/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "naive texts/s",
    "naive p50 ms",
    "naive p99 ms",
    "service / in-process",
    "service / naive",
]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
