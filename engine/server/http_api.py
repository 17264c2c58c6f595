"""The Convex HTTP API (``docs/protocol.md`` §11): ``/api/query``, ``/api/mutation``, ``/api/action``,
``/api/function``, ``/api/query_ts``, ``/api/query_at_ts``, ``/api/run/{path}`` and ``GET /api/query``.

Who may call it: ``engine.server.asgi`` (routes). Function outcomes are always HTTP 200:
``{"status":"success","value","logLines"}`` or ``{"status":"error","errorMessage","errorData"?,
"logLines"}``. Request problems (malformed JSON, a body over 16 MiB, a missing path, a bad timestamp)
are 4xx with ``{"code","message"}``; an OCC failure after every retry is 503
``OptimisticConcurrencyControlFailure``. Admin auth (``Authorization: Convex <key>`` or
``?adminKey=``) may call internal functions.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from engine.model.errors import ConflictError, ConvexError, RippleError
from engine.functions.paths import canonical_path
from engine import protocol
from engine.model.values import to_json

log = logging.getLogger("ripple.server")


class RequestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


async def _body(request: Request) -> dict:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > protocol.MAX_CLIENT_MESSAGE_BYTES:
            raise RequestError(413, "RequestTooLarge", f"request body over {protocol.MAX_CLIENT_MESSAGE_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, "BadJsonBody", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(400, "BadJsonBody", "request body must be a JSON object")
    return body


def _is_admin(request: Request, deployment: Any) -> bool:
    auth = request.headers.get("authorization", "")
    key = None
    if auth[:7].lower() == "convex ":
        key = auth[7:].split(":", 1)[0].strip()
    key = key or request.query_params.get("adminKey")
    return deployment.is_admin(key)


def _function_error(exc: BaseException) -> dict:
    out: dict[str, Any] = {"status": "error", "errorMessage": str(exc), "logLines": list(getattr(exc, "logs", []))}
    if isinstance(exc, ConvexError):
        out["errorMessage"] = exc.data if isinstance(exc.data, str) else "ConvexError"
        out["errorData"] = to_json(exc.data)
    return out


class HttpApi:
    def __init__(self, deployment: Any, executor: Any) -> None:
        self.dep = deployment
        self.executor = executor

    async def _call(self, request: Request, kind: str | None, path: Any, args: Any, fmt: Any,
                    at: int | None = None) -> JSONResponse:
        if not isinstance(path, str):
            raise RequestError(400, "BadConvexFunctionIdentifier", "the request needs a function \"path\" string")
        internal = _is_admin(request, self.dep)

        def run() -> Any:
            canonical = canonical_path(path)
            parsed = protocol.args_from_wire(args)
            return self.dep.app.run(canonical, parsed, internal=internal, at=at, expect_kind=kind)

        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        except ConflictError as exc:
            return _problem(503, "OptimisticConcurrencyControlFailure", str(exc))
        except RippleError as exc:
            return JSONResponse(_function_error(exc))
        except Exception as exc:  # noqa: BLE001 - a server bug: still a {code, message} body (spec §2.3)
            log.exception("%s %s failed", request.method, request.url.path)
            return _problem(500, "InternalServerError", f"{type(exc).__name__}: {exc}")
        return JSONResponse({"status": "success", "value": protocol.encode_value(result.value, fmt), "logLines": result.logs})

    async def handle(self, request: Request, kind: str | None) -> JSONResponse:
        try:
            if request.method == "GET":
                qp = request.query_params
                try:
                    args = json.loads(qp.get("args", "{}"))
                except json.JSONDecodeError as exc:
                    raise RequestError(400, "BadJsonBody", f"args is not valid JSON: {exc}") from None
                return await self._call(request, kind, qp.get("path"), args, qp.get("format"))
            body = await _body(request)
            return await self._call(request, kind, body.get("path"), body.get("args", {}), body.get("format"))
        except RequestError as exc:
            return _problem(exc.status, exc.code, exc.message)

    async def query(self, request: Request) -> JSONResponse:
        return await self.handle(request, "query")

    async def mutation(self, request: Request) -> JSONResponse:
        return await self.handle(request, "mutation")

    async def action(self, request: Request) -> JSONResponse:
        return await self.handle(request, "action")

    async def function(self, request: Request) -> JSONResponse:
        return await self.handle(request, None)

    async def query_ts(self, request: Request) -> JSONResponse:
        return JSONResponse({"ts": protocol.encode_hlc(self.dep.db.latest_ts())})

    async def query_at_ts(self, request: Request) -> JSONResponse:
        try:
            body = await _body(request)
            try:
                at = protocol.decode_hlc(body.get("ts"))
            except protocol.ProtocolError as exc:
                raise RequestError(400, "InvalidTimestamp", str(exc)) from None
            latest = self.dep.db.latest_ts()
            if at > latest:  # not a timestamp this deployment handed out (query_ts never returns one)
                raise RequestError(400, "InvalidTimestamp", f"timestamp {body.get('ts')!r} is newer than this "
                                                            f"deployment's latest, {protocol.encode_hlc(latest)!r}")
            return await self._call(request, "query", body.get("path"), body.get("args", {}), body.get("format"), at=at)
        except RequestError as exc:
            return _problem(exc.status, exc.code, exc.message)

    async def run_path(self, request: Request) -> JSONResponse:
        """``/api/run/dir/file/fn``: the last segment is the function; default format clean JSON."""
        raw = request.path_params["path"].strip("/")
        module, _, fn = raw.rpartition("/")
        try:
            body = await _body(request)
            fmt = body.get("format", "json")
            return await self._call(request, None, f"{module}:{fn}" if module else raw, body.get("args", {}), fmt)
        except RequestError as exc:
            return _problem(exc.status, exc.code, exc.message)
