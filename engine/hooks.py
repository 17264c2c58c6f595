"""Named race points. Engine code calls ``hooks.hit(name)`` at the places where interleavings matter
(``committer.before_validate``, ``committer.before_persist``, ``committer.after_persist``,
``committer.after_publish``, and the mutation runner's ``runner.before_commit``); the default
``NO_HOOKS`` does nothing, so production pays one method call.

Who may call it: the committer and the mutation runner (and the layers that document their own points). Tests inject ``engine.testing.hooks.HookController`` to hold a point.
"""
from __future__ import annotations


class Hooks:
    """No-op hooks (the default)."""

    def hit(self, name: str) -> None:
        return None


NO_HOOKS = Hooks()
