"""The report and the README figures of python -m benchmarks.bulk (see there for what each is)."""

from __future__ import annotations

from benchmarks import figures

# Load averages that say another process was busy: before the run (nothing of this benchmark
# yet), and after it (this benchmark alone leaves about two).
IDLE_LOAD, BUSY_LOAD = 0.5, 2.5


def markdown(report: dict) -> str:
    lines = [
        f"# Bulk scoring ({report['cpu']}, {report['dtype']})",
        "",
        "| texts | rows | predict, all CPUs | predict, 1 thread | sentiment-score | ratio | "
        "to the better | whole command |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, r in report["side_by_side"].items():
        lines.append(
            f"| {kind} | {r['texts']:,} | {r['in_process_rows_per_s']:.0f} | "
            f"{r['in_process_one_thread_rows_per_s']:.0f} | {r['cli_rows_per_s']:.0f} | "
            f"{r['ratio']:.2f}x | {r['ratio_to_best']:.2f}x | {r['cli_wall_rows_per_s']:.0f} |"
        )
    m, ray = report["memory"], report["ray"]
    lines += [
        "",
        f"Peak memory: {m['peak_rss_mib'][0]:.0f} MiB at {m['rows'][0]:,} rows, "
        f"{m['peak_rss_mib'][1]:.0f} MiB at {m['rows'][1]:,} ({m['growth']:.2f}x).",
        f"--engine ray on {ray['rows']:,} short rows: {ray['ray_wall_s']:.1f} s against "
        f"{ray['local_wall_s']:.1f} s for the local engine ({ray['ratio']:.2f}x).",
        f"One actor, one CPU: {report['actor']}",
        f"Load average: {report['load_average'][0]} before, {report['load_average'][1]} after"
        f"{shared(report) and ' (the machine was shared)'}.",
        "",
    ]
    return "\n".join(lines)


def shared(report: dict) -> str:
    """Words for figures measured while another process used the machine: the 1-minute load
    average before and after the run, when either shows more than this benchmark's own work."""
    before, after = report["load_average"]
    if before < IDLE_LOAD and after < BUSY_LOAD:
        return ""
    return f"; the machine was shared (load average {before:.1f} before, {after:.1f} after)"


def record(report: dict, command: str) -> None:
    rows, dtype, note = report["side_by_side"], report["dtype"], shared(report)
    for kind, words in (("long", "whole IMDB reviews"), ("short", "short texts (20 words)")):
        r = rows[kind]
        figures.record(
            f"bulk.{kind}_vs_in_process",
            round(r["ratio_to_best"], 2),
            "x",
            command,
            f"sentiment-score on {r['texts']:,} {words}, {dtype}, {r['cli_rows_per_s']:.0f} "
            "rows/s, over the better of SentimentModel.predict in batches of 64 on all CPUs "
            f"and on one torch thread, same texts (over predict on all CPUs: {r['ratio']:.2f}x)"
            f"{note}",
        )
    m = report["memory"]
    figures.record(
        "bulk.peak_memory_growth",
        round(m["growth"], 2),
        "x",
        command,
        f"sentiment-score's peak resident memory on {m['rows'][1]:,} short rows over "
        f"{m['rows'][0]:,} ({m['peak_rss_mib'][0]:.0f} -> {m['peak_rss_mib'][1]:.0f} "
        "MiB)",
    )
    one = report["actor"]
    rates = one["rows_per_s_per_cpu"]
    figures.record(
        "bulk.actor_rows_per_s_per_cpu",
        f"{rates['long']:.0f} / {rates['short']:.0f}",
        "rows/s",
        command,
        f"one Ray actor (SentimentScorer on one CPU, {dtype}): long / short texts a second; "
        f"peak memory {one['peak_rss_mib']:.0f} MiB{note}",
    )
    ray = report["ray"]
    figures.record(
        "bulk.ray_vs_local",
        round(ray["ratio"], 2),
        "x",
        command,
        f"sentiment-score --engine ray (a local Ray) over the local engine, "
        f"{ray['rows']:,} short rows, whole commands{note}",
    )
