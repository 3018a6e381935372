"""Every route of the service, registered in one place. The metrics label each request by its
route's path, read from the app's routes here: anything else is "other", so that a scan of
random paths cannot grow the series."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route

from service.http import admin, docs, page, probes
from service.http.explain import ExplainEndpoint
from service.http.predict import PredictEndpoint

ROUTERS = (probes.router, admin.router, page.router, docs.router)


def install(app: FastAPI) -> None:
    """POST /predict and /explain (bare ASGI endpoints), the probes, /model, /metrics, the page
    and /docs with its assets; FastAPI itself serves /openapi.json."""
    app.router.routes.append(Route("/predict", PredictEndpoint(), methods=["POST"]))
    app.router.routes.append(Route("/explain", ExplainEndpoint(), methods=["POST"]))
    for router in ROUTERS:
        app.include_router(router)


def paths(app: FastAPI) -> frozenset[str]:
    """The path of every route the app serves: the bounded set of `route` label values. (FastAPI
    keeps an included router as one entry of app.routes, without a path.)"""
    own = {route.path for route in app.routes if isinstance(getattr(route, "path", None), str)}
    return frozenset(own | {route.path for router in ROUTERS for route in router.routes})
