"""The engine: queues, the batcher, isolation of failing texts, the explanation queue, the model
backend (scorer), batch grouping and the thread policy.

It never imports starlette or fastapi (tests/service/test_layers.py checks): what it knows of a
request is a text, a deadline and a future. The HTTP layer (service.http) turns requests into
those and the engine's exceptions (service.engine.jobs) into status codes.
"""
