"""``FunctionsConfig``: how functions run. An explicit record, recorded with results; never a global."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class FunctionsConfig:
    """Limits and policy for function calls.

    - ``query_timeout_s`` / ``mutation_timeout_s``: execution deadline per attempt (Convex: 1 s of user
      code); ``action_timeout_s`` for actions. The wasm host enforces them by epoch interruption; the
      reference host cannot interrupt Python code and only reports the overrun afterwards.
    - ``memory_limit_bytes``: the guest's linear-memory limit (wasm host).
    - ``log_max_lines`` / ``log_max_line_bytes``: bounds on captured log lines per call.
    - ``fetch_allow``: URL prefixes an action may ``fetch`` (empty: none); ``fetch_timeout_s``.
    - ``max_page``: largest page one ``query`` syscall may ask for.
    - ``prewarm``: how many fresh sandboxes the wasm host keeps instantiated ahead of calls.
    - ``env``: deployment environment variables functions read with ``ctx.env`` (API URLs, keys).
    - ``cache_dir``: where built components are cached by content hash (None: ``~/.cache/ripple``, or
      the ``RIPPLE_CACHE_DIR`` environment variable read by the build tool, not by the engine).
    """

    query_timeout_s: float = 1.0
    mutation_timeout_s: float = 1.0
    action_timeout_s: float = 60.0
    memory_limit_bytes: int = 64 << 20
    log_max_lines: int = 256
    log_max_line_bytes: int = 4096
    fetch_allow: tuple[str, ...] = ()
    fetch_timeout_s: float = 10.0
    max_page: int = 8192
    prewarm: int = 2
    cache_dir: str | None = None
    env: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def timeout_for(self, kind: str) -> float:
        return {"query": self.query_timeout_s, "mutation": self.mutation_timeout_s}.get(kind, self.action_timeout_s)

    def to_dict(self) -> dict:
        return asdict(self)
