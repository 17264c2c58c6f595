"""The Ripple server: Convex's sync protocol and HTTP API over a deployment (ASGI: Starlette on uvicorn).

Who may call it: the ``ripple`` command line and tests. Needs the ``server`` extra (starlette, uvicorn).
The wire protocol itself (timestamps, message names, limits, argument shapes) is ``engine.protocol``,
shared with the client. One file per role:

- ``deployment``: a database plus its deployed app (redeployable), admin key, mutation dedup.
- ``sync``: one WebSocket session (``/api/sync``): query set, transitions, mutations, actions, auth.
- ``http_api``: ``/api/query`` and friends.
- ``asgi``: the Starlette application (routes, CORS, static pages) and ``serve``.
- ``cli``: the ``dev``/``serve``/``run``/``export``/``import`` commands.
- ``watch``: ``ripple dev``'s redeploy on change (watchfiles).

Engine work (function runs, commits) happens off the event loop in a thread pool; the loop only moves
messages. The server makes no engine decisions: it asks the deployment's ``App``.
"""
