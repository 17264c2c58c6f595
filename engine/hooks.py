"""Named race points. Engine code calls ``hooks.hit(name)`` at the places where interleavings matter;
the default ``NO_HOOKS`` does nothing, so production pays one method call. Points:

- committer: ``committer.before_validate``, ``committer.before_persist``, ``committer.after_persist``,
  ``committer.after_publish``;
- mutation runner (``engine.database.runner``): ``runner.before_commit`` (the function ran, its writes
  are buffered, the commit is not yet asked for);
- subscriptions (``engine.subscriptions``): ``subscriptions.before_register`` (a query ran, not yet
  registered), ``subscriptions.after_match`` (a batch's commits matched), ``subscriptions.after_rerun``
  (the batch's re-runs and deliveries done);
- scheduler (``engine.functions.scheduler``): ``scheduler.idle``, ``scheduler.before_run``,
  ``scheduler.after_run``;
- query hub (``engine.server.query_hub``): ``hub.after_publish`` (a cycle queued its Transitions),
  ``hub.after_detach`` (a session left).

Who may call it: those modules. Tests inject ``engine.testing.hooks.HookController`` to hold a point,
run a callback there, or wait until a point has been reached.
"""
from __future__ import annotations


class Hooks:
    """No-op hooks (the default)."""

    def hit(self, name: str) -> None:
        return None


NO_HOOKS = Hooks()
