"""The Starlette application and ``serve``: routes, CORS, the sync endpoint, static pages.

Who may call it: the command line and tests (``create_app`` + ``serve`` or a uvicorn server of their
own). Engine work runs in one thread pool shared by every connection (``executor``); live queries are
shared by every sync session through one ``QueryHub``.
"""
from __future__ import annotations

import concurrent.futures
import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from engine import protocol
from engine.server.http_api import HttpApi
from engine.server.query_hub import QueryHub
from engine.server.sync import SyncSession, _error_fields


def create_app(deployment: Any, *, executor: Any = None, static_dir: str | Path | None = None,
               ping_idle_s: float = protocol.SERVER_PING_IDLE_MS / 1000) -> Starlette:
    """The ASGI app for *deployment*. *static_dir* (default: ``<app>/public`` if it exists) is served at
    ``/``; the app can read the deployment URL from ``/ripple-config.json``."""
    pool = executor or concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="ripple-fn")
    api = HttpApi(deployment, pool)
    hub = QueryHub(deployment, pool, error_fields=_error_fields)  # live queries shared by all sessions

    async def sync(ws: WebSocket) -> None:
        await ws.accept()
        await SyncSession(ws, deployment, pool, ping_idle_s=ping_idle_s, hub=hub).run()

    async def health(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def config(request: Any) -> JSONResponse:
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse({"url": base, "functions": deployment.app.describe()})

    routes = [
        WebSocketRoute("/api/sync", sync),
        WebSocketRoute("/api/{version}/sync", sync),
        Route("/api/query", api.query, methods=["POST", "GET"]),
        Route("/api/mutation", api.mutation, methods=["POST"]),
        Route("/api/action", api.action, methods=["POST"]),
        Route("/api/function", api.function, methods=["POST"]),
        Route("/api/query_ts", api.query_ts, methods=["POST", "GET"]),
        Route("/api/query_at_ts", api.query_at_ts, methods=["POST"]),
        Route("/api/run/{path:path}", api.run_path, methods=["POST"]),
        Route("/health", health),
        Route("/ripple-config.json", config),
    ]
    vendor = Path(__file__).resolve().parents[2] / "node_modules" / "convex" / "dist"
    if vendor.is_dir():  # the official browser client, for the example pages (installed by `make setup`)
        routes.append(Mount("/vendor/convex", StaticFiles(directory=str(vendor))))
    public = Path(static_dir) if static_dir else Path(deployment.app_dir) / "public"
    if public.is_dir():
        routes.append(Mount("/", StaticFiles(directory=str(public), html=True)))
    middleware = [Middleware(CollapseSlashes),
                  Middleware(CORSMiddleware, allow_origin_regex=".*", allow_credentials=True,
                             allow_methods=["GET", "POST", "OPTIONS", "PATCH", "DELETE", "PUT"],
                             allow_headers=["*"], max_age=86400)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.deployment = deployment
    app.state.executor = pool
    app.state.query_hub = hub
    return app


class CollapseSlashes:
    """ASGI middleware: route ``//api/query`` as ``/api/query``. The npm clients build URLs as
    ``f"{address}/api/..."``, so a deployment URL ending in "/" (``http://127.0.0.1:3210/``) asks for
    ``//api/...`` on every HTTP call and WebSocket upgrade (``docs/protocol.md`` §1)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            scope = dict(scope, path=re.sub("/{2,}", "/", scope["path"]))
            if "raw_path" in scope and scope["raw_path"] is not None:
                scope["raw_path"] = re.sub(rb"/{2,}", b"/", scope["raw_path"])
        await self.app(scope, receive, send)


def uvicorn_config(app: Any, host: str = "127.0.0.1", port: int = 3210, **kw: Any) -> Any:
    """uvicorn settings the protocol needs (``docs/protocol.md`` §7, §8): WebSocket ping frames every 5 s
    (the Python client drops a server silent for 30 s), a generous pong timeout, and 16 MiB + 2000 bytes
    per client message."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, ws_ping_interval=protocol.SERVER_WS_PING_INTERVAL_MS / 1000,
                          ws_ping_timeout=protocol.SERVER_WS_PONG_TIMEOUT_MS / 1000,
                          ws_max_size=protocol.MAX_CLIENT_MESSAGE_BYTES, log_level=kw.pop("log_level", "warning"),
                          lifespan="off", **kw)
