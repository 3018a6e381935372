"""Every Prometheus metric of the service, with one prefix, units in the names, bounded labels.

With several worker processes, prometheus_client's multiprocess mode sums the workers' files
(PROMETHEUS_MULTIPROC_DIR, set by `service.cli` before any worker starts); /metrics then reads
them through a MultiProcessCollector, and each worker also reports its own process gauges.
"""

from __future__ import annotations

import glob
import os
import resource
import signal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from model.drift import SCORE_BUCKETS, TOKEN_BUCKETS, UNKNOWN_SHARE_BUCKETS

disable_created_metrics()  # the *_created series double the output and no dashboard reads them

PREFIX = "sentiment"
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None  # prometheus_client's switch
MULTIPROCESS = MULTIPROC_DIR is not None

# Latency buckets: from sub-millisecond health checks to requests that wait out a 10 s timeout.
_LATENCY = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Forward passes: a few ms for a batch of tweets on GPU, up to seconds for 64 long reviews on CPU.
_INFERENCE = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12)

REQUESTS = Counter(
    f"{PREFIX}_requests_total", "HTTP requests by route and status code", ["route", "status"]
)
REQUEST_DURATION = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Time from request to response",
    ["route"],
    buckets=_LATENCY,
)
QUEUE_WAIT = Histogram(
    f"{PREFIX}_queue_wait_seconds",
    "Time a text waits in the queue before its batch starts",
    buckets=_LATENCY,
)
TOKENIZE_DURATION = Histogram(
    f"{PREFIX}_tokenize_duration_seconds", "Time to tokenize one batch", buckets=_INFERENCE
)
INFERENCE_DURATION = Histogram(
    f"{PREFIX}_inference_duration_seconds", "Time of one batch's forward passes", buckets=_INFERENCE
)
BATCH_SIZE = Histogram(
    f"{PREFIX}_batch_size", "Texts per batch", buckets=tuple(2.0**i for i in range(13))
)
TOKENS_PER_TEXT = Histogram(
    f"{PREFIX}_tokens_per_text",
    "Tokens the network reads per text (after truncation)",
    buckets=TOKEN_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    f"{PREFIX}_queue_depth", "Texts waiting in the queue", multiprocess_mode="livesum"
)
QUEUE_CAPACITY = Gauge(
    f"{PREFIX}_queue_capacity", "Texts the queue holds at most", multiprocess_mode="livesum"
)
PREDICTIONS = Counter(f"{PREFIX}_predictions_total", "Texts scored, by predicted label", ["label"])
REJECTED = Counter(f"{PREFIX}_rejected_texts_total", "Texts not scored, by reason", ["reason"])
TRUNCATED = Counter(
    f"{PREFIX}_truncated_texts_total",
    "Texts over the length limit cut to their head and tail (SENTIMENT_LONG_TEXTS=truncate)",
)
READY = Gauge(
    f"{PREFIX}_ready", "1 when the model is loaded and warmed up", multiprocess_mode="livemin"
)
# One series per live worker (label pid in multiprocess mode), removed when the worker swaps
# models: "max" kept every version a worker ever served at 1, for the life of the folder.
MODEL_INFO = Gauge(
    f"{PREFIX}_model_info",
    "The model each worker serves (always 1)",
    ["version", "device", "dtype"],
    multiprocess_mode="liveall",
)
MODEL_VERSIONS = Gauge(
    f"{PREFIX}_model_versions_serving",
    "Distinct model versions the live workers serve: above 1 while a swap is under way (skew)",
    multiprocess_mode="livemax",
)
MODEL_CHANGES = Counter(
    f"{PREFIX}_model_changes_total",
    "Admin model changes, by action (swap, rollback, confirm, shadow, promote, drop) and outcome",
    ["action", "outcome"],
)
# The shadow candidate: a share of live texts scored again, off the request's path.
SHADOW_TEXTS = Counter(
    f"{PREFIX}_shadow_texts_total",
    "Texts offered to the shadow candidate, by outcome (scored, dropped: queue full, failed)",
    ["outcome"],
)
SHADOW_AGREEMENT = Counter(
    f"{PREFIX}_shadow_label_agreement_total",
    "Shadowed texts by whether the candidate's label agrees with the serving model's",
    ["agree"],
)
SHADOW_SCORE_DIFFERENCE = Histogram(
    f"{PREFIX}_shadow_score_difference",
    "Candidate's P(positive) minus the serving model's, per shadowed text",
    buckets=(-0.5, -0.2, -0.1, -0.05, -0.02, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
SHADOW_SCORE = Histogram(
    f"{PREFIX}_shadow_score",
    "P(positive) of each shadowed text, by model version (candidate and serving, same texts)",
    ["version"],
    buckets=SCORE_BUCKETS,
)
SHADOW_UNKNOWN_SHARE = Histogram(
    f"{PREFIX}_shadow_unknown_token_share",
    "Unknown-token share of each shadowed text, by model version (candidate and serving)",
    ["version"],
    buckets=UNKNOWN_SHARE_BUCKETS,
)
SHADOW_QUEUE_DEPTH = Gauge(
    f"{PREFIX}_shadow_queue_depth",
    "Texts waiting for the shadow candidate",
    multiprocess_mode="livesum",
)
# Drift, live (/predict's texts, observed by service.engine.scorer) and reference (the artifact's
# validation split, from its metadata; absent for artifacts that do not record one).
SCORE = Histogram(
    f"{PREFIX}_score",
    "P(positive) of each text /predict scored, by the model version that scored it",
    ["version"],
    buckets=SCORE_BUCKETS,
)
UNKNOWN_SHARE = Histogram(
    f"{PREFIX}_unknown_token_share",
    "Share of a text's tokens that the vocabulary does not know, per text /predict scored",
    ["version"],
    buckets=UNKNOWN_SHARE_BUCKETS,
)
REFERENCE_POSITIVE_SHARE = Gauge(
    f"{PREFIX}_reference_positive_share",
    "Share of the validation texts the model scored positive (the artifact's reference)",
    ["version"],
    multiprocess_mode="max",
)
REFERENCE_SCORE_MEAN = Gauge(
    f"{PREFIX}_reference_score_mean",
    "Mean P(positive) over the validation texts (the artifact's reference)",
    ["version"],
    multiprocess_mode="max",
)
REFERENCE_UNKNOWN_SHARE_MEAN = Gauge(
    f"{PREFIX}_reference_unknown_share_mean",
    "Mean share of unknown tokens per validation text (the artifact's reference)",
    ["version"],
    multiprocess_mode="max",
)
REFERENCE_TOKENS_MEAN = Gauge(
    f"{PREFIX}_reference_tokens_per_text_mean",
    "Mean tokens the network reads per validation text (the artifact's reference)",
    ["version"],
    multiprocess_mode="max",
)
# POST /explain: its own queue, so its own queue figures.
_EXPLAIN = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
EXPLAIN_QUEUE_WAIT = Histogram(
    f"{PREFIX}_explain_queue_wait_seconds",
    "Time a text waits in the explanation queue before it is explained",
    buckets=_EXPLAIN,
)
EXPLAIN_DURATION = Histogram(
    f"{PREFIX}_explain_duration_seconds",
    "Time of one text's Integrated Gradients (all its forward and backward passes)",
    buckets=_EXPLAIN,
)
EXPLAIN_TOKENS = Histogram(
    f"{PREFIX}_explain_tokens_per_text", "Tokens per explained text", buckets=TOKEN_BUCKETS
)
EXPLAIN_COMPLETENESS = Histogram(
    f"{PREFIX}_explain_completeness_error",
    "|sum of attributions - (logit - baseline logit)| per explained text",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
EXPLAIN_QUEUE_DEPTH = Gauge(
    f"{PREFIX}_explain_queue_depth",
    "Texts waiting in the explanation queue",
    multiprocess_mode="livesum",
)
EXPLAIN_QUEUE_CAPACITY = Gauge(
    f"{PREFIX}_explain_queue_capacity",
    "Texts the explanation queue holds at most",
    multiprocess_mode="livesum",
)
EXPLAIN_REJECTED = Counter(
    f"{PREFIX}_explain_rejected_texts_total", "Texts not explained, by reason", ["reason"]
)
# Per-worker process figures for multiprocess mode, where the default process collector sees
# only the process that answers the scrape. One series per live worker (label `pid`).
WORKER_RSS = Gauge(
    f"{PREFIX}_worker_resident_memory_bytes",
    "Resident memory of each worker",
    multiprocess_mode="liveall",
)
WORKER_CPU = Gauge(
    f"{PREFIX}_worker_cpu_seconds", "CPU time used by each worker", multiprocess_mode="liveall"
)


def set_reference(version: str, reference: dict | None) -> None:
    """Export the artifact's drift reference (metadata "reference"); none: no series at all."""
    if not reference:
        return
    REFERENCE_POSITIVE_SHARE.labels(version).set(reference["positive_share"])
    REFERENCE_SCORE_MEAN.labels(version).set(reference["scores"]["mean"])
    REFERENCE_UNKNOWN_SHARE_MEAN.labels(version).set(reference["unknown_share"]["mean"])
    REFERENCE_TOKENS_MEAN.labels(version).set(reference["tokens"]["mean"])


def update_worker_gauges() -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    WORKER_CPU.set(usage.ru_utime + usage.ru_stime)
    try:
        with open("/proc/self/statm") as f:
            WORKER_RSS.set(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except OSError:  # not Linux: peak RSS is the best the standard library offers
        WORKER_RSS.set(usage.ru_maxrss * 1024)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric, summed over workers in multiprocess mode."""
    update_worker_gauges()
    if MULTIPROCESS:
        forget_dead_workers()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def workers_ready() -> int:
    """Multiprocess mode: how many live workers report sentiment_ready == 1 in their own files."""
    ready = 0
    for path in glob.glob(
        os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "gauge_livemin_*.db")
    ):
        pid = int(os.path.basename(path)[len("gauge_livemin_") : -len(".db")])
        if not alive(pid):
            continue
        for metric in multiprocess.MultiProcessCollector.merge([path], accumulate=False):
            if metric.name == f"{PREFIX}_ready" and any(s.value == 1 for s in metric.samples):
                ready += 1
    return ready


_PROC = os.path.isdir("/proc/self")
_PF_EXITING = 0x4  # the kernel's task flag, set as a process starts to exit
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)  # in the pending-signal masks of /proc/PID/status


def alive(pid: int) -> bool:
    """Whether the worker `pid` still runs. A killed worker is dead from the moment the kill is
    sent: under load it stayed in state R for 60-80 ms while the kernel freed its memory (SIGKILL
    pending, then exiting), and a zombie that its supervisor has not reaped yet still answers
    os.kill(pid, 0). Counting either alive kept its series in /metrics, and its readiness in
    /readyz, after its replacement was up."""
    if not _PROC:  # not Linux: ask the kernel the portable way
        return _signalable(pid)
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except FileNotFoundError:
        return False
    except PermissionError:  # alive, hidden from us
        return True
    fields = stat[stat.rindex(b")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    if fields[0] in (b"Z", b"X") or int(fields[6]) & _PF_EXITING:
        return False
    for line in status.splitlines():
        if line.startswith((b"SigPnd:", b"ShdPnd:")) and int(line.split()[1], 16) & _SIGKILL_BIT:
            return False
    return True


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def forget_dead_workers() -> None:
    """Multiprocess mode: drop the live gauges (readiness, queue depth, per-worker memory and
    CPU) of workers that died without running their exit hook: killed by SIGKILL or the OOM
    killer, then replaced by uvicorn. Their counters and histograms stay: totals must not go
    back when a worker dies."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    pids = {
        int(os.path.basename(path).rsplit("_", 1)[1][: -len(".db")])
        for path in glob.glob(os.path.join(directory, "gauge_live*_*.db"))
    }
    for pid in pids:
        if not alive(pid):
            multiprocess.mark_process_dead(pid, directory)


START_UP_FAILURE = "start-up-failure.txt"  # in the multiprocess folder, for the parent


def record_start_up_failure(reason: str) -> None:
    """Multiprocess mode: leave why this worker could not start where the parent finds it."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    with open(os.path.join(folder, START_UP_FAILURE), "a", encoding="utf-8") as f:
        f.write(reason + "\n")


def start_up_failure(folder: str) -> str | None:
    """The reason a worker recorded with record_start_up_failure, if one did."""
    try:
        with open(os.path.join(folder, START_UP_FAILURE), encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def mark_worker_exit(pid: int | None = None) -> None:
    """Drop a finished worker's live gauges from the multiprocess files."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid or os.getpid())
