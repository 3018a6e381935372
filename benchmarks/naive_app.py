"""The naive baseline: the same model behind a plain FastAPI route, one forward pass per request.

This is how the tutorials serve a model: a sync handler (FastAPI runs it on its thread pool)
that calls the model on the one text it was given. No queue, no batching. It loads the same
artifact with the same device, dtype and torch threads as the service, so the comparison is
about serving, not about the network.

    SENTIMENT_MODEL=... uvicorn benchmarks.naive_app:app --port 8001
"""

from __future__ import annotations

import os

import torch
from fastapi import FastAPI
from pydantic import BaseModel

from model import SentimentModel

torch.set_num_threads(int(os.environ.get("NAIVE_TORCH_THREADS", "1")))
model = SentimentModel.load(
    os.environ.get("NAIVE_MODEL") or None, dtype=os.environ.get("NAIVE_DTYPE", "fp32")
)
app = FastAPI()


class Review(BaseModel):
    text: str


@app.get("/readyz")
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
def predict(review: Review) -> dict[str, object]:
    score = model.predict([review.text])[0]
    return {
        "label": "positive" if score >= 0.5 else "negative",
        "score": score,
        "model_version": model.version,
    }
