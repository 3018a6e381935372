"""SentimentScorer: the callable class for `ray.data.Dataset.map_batches`, for more texts than one
machine scores in time.

    import ray
    from bulk.ray_data import SentimentScorer

    ds = ray.data.read_parquet("s3://bucket/reviews/")
    scored = ds.map_batches(
        SentimentScorer,
        fn_constructor_kwargs={"text_column": "body"},  # model=None: the bundled model
        batch_format="pyarrow",  # or "numpy" or "pandas"
        batch_size=1024,
        concurrency=16,          # actors: one model each
        num_cpus=1,              # CPUs per actor (num_gpus=1 and device="cuda" for GPUs)
    )
    scored.write_parquet("s3://bucket/scores/")

Ray creates the class once per actor, which loads the artifact once; each call scores one batch
through bulk.scoring, the code sentiment-score runs, and returns the batch with the same columns
as the CLI writes: the text column dropped (keep_text=True keeps it), every other column as it
was, then bulk.scoring.ADDED. A row that /predict would refuse gets its code in `error` and a null
score; the batch goes on. `model` is an artifact directory every worker can read (baked into the
image, or on shared storage); None is the model bundled with the package.

Only this module's class is needed on the workers: it imports neither ray nor the service's HTTP
layer, and torch only when an actor starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulk.errors import BulkError
from bulk.scoring import ADDED, Limits, prepare, score


class SentimentScorer:
    def __init__(
        self,
        model: str | Path | None = None,
        *,
        text_column: str = "text",
        keep_text: bool = False,
        device: str = "cpu",
        dtype: str = "auto",
        max_text_chars: int | None = None,
        long_texts: str | None = None,
        batch_size: int = 64,
        torch_threads: int | None = None,
    ) -> None:
        """torch_threads: None leaves torch's own count, which Ray sets to the actor's num_cpus
        (OMP_NUM_THREADS). max_text_chars and long_texts: None takes the service's defaults."""
        import torch

        from bulk.run import bound_native_memory
        from model.api import SentimentModel

        bound_native_memory()
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.model = SentimentModel.load(model, device=device, dtype=dtype)
        defaults = Limits.service_defaults()
        self.limits = Limits(
            max_text_chars or defaults.max_text_chars, long_texts or defaults.long_texts
        )
        self.text_column, self.keep_text, self.batch_size = text_column, keep_text, batch_size

    def __call__(self, batch: Any) -> Any:
        """A pyarrow Table, a pandas DataFrame or a dict of numpy arrays, with the columns added."""
        columns = list(batch.column_names if hasattr(batch, "column_names") else batch.keys())
        clash = sorted(set(ADDED) & set(columns))
        if clash:
            raise BulkError(f"the data has a column {clash[0]!r}, which scoring adds; rename it")
        if self.text_column not in columns:
            raise BulkError(
                f"no column {self.text_column!r}; the columns are {columns}: pass text_column"
            )
        values = _values(batch, self.text_column)
        added = score(self.model, prepare(self.model, values, self.limits), self.batch_size)
        return _with_columns(batch, added, None if self.keep_text else self.text_column)


def _values(batch: Any, column: str) -> list[Any]:
    if hasattr(batch, "column_names"):  # pyarrow
        return batch.column(column).to_pylist()
    return list(batch[column])  # numpy array or pandas Series


def _with_columns(batch: Any, added: dict[str, list], drop: str | None) -> Any:
    if hasattr(batch, "column_names"):
        import pyarrow as pa

        from bulk.outputs import ADDED_TYPES

        table = batch.drop_columns([drop]) if drop else batch
        for name in ADDED:
            table = table.append_column(name, pa.array(added[name], type=ADDED_TYPES[name](pa)))
        return table
    if hasattr(batch, "assign"):  # pandas
        frame = batch.drop(columns=[drop]) if drop else batch
        return frame.assign(**added)
    import numpy as np

    out = {k: v for k, v in batch.items() if k != drop}
    out.update((name, np.array(values, dtype=object)) for name, values in added.items())
    return out
