"""Bulk scoring: the texts of files scored by the model, on one machine or a Ray cluster, with
the same text pipeline, limits and network as /predict, so that a text gets the same score
whichever way it comes in.

    cli.py          sentiment-score: flags, exit codes, the summary (--help imports no torch)
    run.py          a local run, top to bottom: inputs, layout, model, engine, parts
    inputs.py       files, folders and globs; CSV, TSV, JSON Lines, Parquet, gzip and zstd
    chunks.py       the input cut into numbered chunks: the unit scored, written and resumed
    scoring.py      the columns added to each row: admission (model.limits) and scores
    local.py        the local engine: a reader thread that tokenizes, inference threads
    outputs.py      rows as CSV, TSV, JSON Lines or Parquet
    parts.py        a part per chunk, written whole; joined into the output at the end
    progress.py     the progress line and the summary
    ray_data.py     SentimentScorer, the callable class for ray.data.Dataset.map_batches
    ray_engine.py   sentiment-score --engine ray: the same run through Ray Data

Nothing here imports starlette, fastapi or uvicorn (it runs on Ray workers and in slim images;
tests/bulk/test_layers.py checks), and only ray_engine.py imports ray.
"""
