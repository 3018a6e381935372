"""The HTTP service: FastAPI app, dynamic batcher, predictor, settings, metrics."""
