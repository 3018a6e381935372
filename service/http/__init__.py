"""The HTTP layer: ASGI endpoints, request and response schemas, middleware, auth, errors, the
page and the header-deadline protocol.

It never imports torch (tests/service/test_layers.py imports every module of it in a fresh
interpreter and checks): handlers validate, submit texts to the engine's queues and map the
engine's exceptions to status codes in one place (service.http.errors).
"""
