"""What reading text costs: TextPipeline.encode_many in batches of 64, as the service calls it.

    python -m benchmarks.tokenize [--model DIR] [--baseline-tree DIR] [--out reports/tokenize.json]

Short texts (the first 20 words of 1,024 IMDB test reviews) and long ones (256 whole reviews),
texts/s on the first pass over them (nothing cached) and the median of the next rounds (what
a pipeline that has seen such text does). --baseline-tree DIR measures the same in the source
tree DIR (another checkout, for example the commit before a pipeline change), in its own
process, round for round beside this tree's, so that a shared machine's noise falls on both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.texts import DEFAULT_IMDB

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh interpreter whose `model` package is the tree's own: only what every version
# of the pipeline has (load_artifact, TextPipeline.encode_many).
PROGRAM = """
import json, statistics, sys, time
from pathlib import Path
from benchmarks.texts import load_texts
from model.artifact import load_artifact
from model.text import TextPipeline
model, imdb, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
artifact = load_artifact(model)
texts = load_texts(Path(imdb), 1024)
result = {}
for kind, count in (("short", 1024), ("long", 256)):
    pipeline = TextPipeline(artifact.text_config, artifact.vocab)
    chosen = texts[kind][:count]
    rates = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        for i in range(0, count, 64):
            pipeline.encode_many(chosen[i : i + 64])
        rates.append(count / (time.perf_counter() - started))
    result[kind] = {"first_pass": rates[0], "warm": statistics.median(rates[1:])}
print(json.dumps(result))
"""


def measure(tree: Path, model: Path, imdb: Path, rounds: int) -> dict:
    # The tree's own packages first; this tree's benchmarks.texts where the tree has none.
    path = os.pathsep.join([str(tree), str(ROOT)])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(model), str(imdb), str(rounds)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split")
    p.add_argument("--baseline-tree", type=Path, help="another source tree to measure beside")
    p.add_argument("--rounds", type=int, default=5, help="warm rounds per measurement")
    p.add_argument("--repeats", type=int, default=3, help="measurements per tree; medians")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "tokenize.json")
    args = p.parse_args()
    from model import bundled_model_path

    model = (args.model or bundled_model_path()).resolve()
    trees = {"this tree": ROOT}
    if args.baseline_tree:
        trees["baseline"] = args.baseline_tree.resolve()
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.repeats):
        for name, tree in trees.items():
            runs[name].append(measure(tree, model, args.imdb.resolve(), args.rounds))
    report = {"model": str(model), "trees": {k: str(v) for k, v in trees.items()}, "runs": runs}
    for name in trees:
        for kind in ("short", "long"):
            for when in ("first_pass", "warm"):
                rates = sorted(r[kind][when] for r in runs[name])
                median = rates[len(rates) // 2]
                report.setdefault("medians", {}).setdefault(name, {})[f"{kind} {when}"] = median
                print(f"{name:>9}  {kind:>5} {when:>10}: {median:9.0f} texts/s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
