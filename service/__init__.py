"""The HTTP service, in two layers and a few shared modules:

service/http/     ASGI endpoints, schemas, parsing, middleware, auth, errors, the page:
                  no torch
service/engine/   jobs, the batcher, isolation, the explanation queue, the scorer (the
                  model backend), batch grouping, the thread policy: no HTTP
app.py            the app factory and its lifespan, which wires the two together
cli.py settings.py metrics.py logs.py samples.py
"""
