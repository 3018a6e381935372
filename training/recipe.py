"""A recipe: every stage of a model, from the shared data to the artifact, in one checked-in file
that `sentiment-train --recipe FILE` runs top to bottom.

    name = "imdb-bilstm"
    out = "model/bundled/imdb-bilstm"   # the last stage's artifact (relative to the current folder)
    data = "../shared/data"             # {data} in the arguments
    common = ["--data", "{data}/imdb/aclImdb_train.tar.xz", "--seed", "13"]

    [[stage]]
    name = "pretrained"
    args = ["--no-test", "--unlabeled", "{data}/imdb/aclImdb_unsup.tar.xz"]

    [[stage]]
    name = "fine-tuned"
    args = ["--pretrained", "{pretrained}.checkpoints", "--adversarial", "0.3"]

Each stage is one sentiment-train run: the common arguments, then its own, then `--out
<work>/<name>` (the last stage: the recipe's `out`). `{stage}` in an argument is that earlier
stage's artifact directory, so a stage can start from (`--init`), fine-tune (`--pretrained
{stage}.checkpoints`), learn from the judgement of (`--span-teacher`) or average in (`--soup`)
the stages before it. A stage whose artifact exists is done and skipped; one that was
interrupted continues with --resume from its checkpoints: run the same command again after a
stop and it goes on where it was. Flags given beside --recipe (such as `--device cuda`) are added
to every stage. Everything is seeded by the stages' own flags, so a recipe run twice on the same
machine and thread count gives the same weights.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

log = logging.getLogger("training")
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]  # sentiment-train's arguments, --out included
    out: Path


def load(path: Path) -> dict[str, Any]:
    try:
        recipe = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read the recipe: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not a valid recipe (TOML): {exc}") from exc
    for key in ("name", "out", "stage"):
        if key not in recipe:
            raise UserError(f"{path}: the recipe needs '{key}'")
    return recipe


def plan(
    recipe: dict[str, Any], work: Path, extra: Sequence[str] = (), final: Path | None = None
) -> list[Stage]:
    """Every stage's sentiment-train arguments, placeholders filled in, in order; the last
    stage writes to `final`, or to the recipe's `out`."""
    values = {"data": str(recipe.get("data", "."))}
    common = [str(a) for a in recipe.get("common", [])]
    stages: list[Stage] = []
    for i, spec in enumerate(recipe["stage"]):
        name = spec.get("name", "")
        if not _NAME.match(name) or name in values:
            raise UserError(
                f"stage {i + 1}: needs a new name of letters, digits, - _ . (got {name!r})"
            )
        last = i == len(recipe["stage"]) - 1
        out = Path(final or recipe["out"]) if last else work / name
        args = (common if spec.get("common", True) else []) + [str(a) for a in spec.get("args", [])]
        argv = [_fill(a, values, name) for a in args] + [*extra, "--out", str(out)]
        stages.append(Stage(name, argv, out))
        values[name] = str(out)
    return stages


def _fill(argument: str, values: dict[str, str], stage: str) -> str:
    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise UserError(
                f"stage {stage}: {{{key}}} names no earlier stage (known: {', '.join(values)})"
            )
        return values[key]

    return _PLACEHOLDER.sub(value, argument)


def run(
    path: Path,
    work: Path | None,
    extra: Sequence[str],
    train: Callable[[list[str]], int],
    final: Path | None = None,
) -> Path:
    """Run the recipe's stages that are not done yet; the final artifact's path."""
    recipe = load(path)
    work = work or Path("runs") / recipe["name"]
    stages = plan(recipe, work, extra, final)
    for number, stage in enumerate(stages, 1):
        if (stage.out / "metadata.json").is_file():
            log.info("recipe %s: stage %d/%d %s done (%s)", recipe["name"], number, len(stages),
                     stage.name, stage.out)  # fmt: skip
            continue
        checkpoints = stage.out.with_name(stage.out.name + ".checkpoints")
        resume = ["--resume"] if checkpoints.is_dir() else []
        log.info("recipe %s: stage %d/%d %s: sentiment-train %s", recipe["name"], number,
                 len(stages), stage.name, " ".join([*stage.argv, *resume]))  # fmt: skip
        code = train([*stage.argv, *resume])
        if code != 0:
            raise UserError(f"stage {stage.name} failed (exit {code}); fix it and run again")
    return stages[-1].out
