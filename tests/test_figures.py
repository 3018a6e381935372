"""The README's figures are benchmarks/figures.json's, rendered: they cannot go stale apart."""

from __future__ import annotations

import pytest

from benchmarks import figures


def test_the_readme_shows_the_recorded_figures() -> None:
    readme = figures.README.read_text()
    assert figures.render(readme, figures.load()) == readme, (
        "README.md's figures differ from benchmarks/figures.json: run python -m benchmarks.figures"
    )


def test_every_figure_says_how_where_and_when_it_was_measured() -> None:
    recorded = figures.load()
    assert recorded, "benchmarks/figures.json is empty"
    for name, figure in recorded.items():
        assert {"value", "unit", "what", "command", "date", "cpu"} <= set(figure), name
        assert figure["command"].startswith(("python -m benchmarks.", "sentiment-")), name
        assert "bf16" in figure["cpu"], name  # native bf16 or not: it decides the speed


def test_rendering_replaces_only_the_block() -> None:
    readme = f"intro\n{figures.BEGIN}\nold\n{figures.END}\noutro\n"
    one = {
        "x.y": {
            "value": 1,
            "unit": "x",
            "what": "a ratio",
            "command": "c",
            "date": "d",
            "cpu": "cpu",
        }
    }
    rendered = figures.render(readme, one)
    assert rendered.startswith("intro\n") and rendered.endswith("\noutro\n")
    assert "| a ratio | **1x** | `c` | cpu | d |" in rendered and "old" not in rendered
    with pytest.raises(ValueError, match="no figures block"):
        figures.render("no block", one)
