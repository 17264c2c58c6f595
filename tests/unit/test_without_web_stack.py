"""The embedded engine without the ``server`` extra: in a fresh interpreter whose import system refuses
starlette, uvicorn, websockets and watchfiles, ``import engine``, ``engine.open_database``, a mutation and
a live subscription work, ``engine.protocol`` imports, and ``ripple serve`` / ``ripple dev`` fail with one
line naming the extra (no traceback). The blocker's own refusal is checked first, so the test cannot
pass by the packages being merely absent or by the blocker not working."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "chat"

SCRIPT = r'''
import json, sys

BLOCKED = {"starlette", "uvicorn", "websockets", "watchfiles"}


class RefuseWebStack:
    """A meta path finder consulted before every other: the web stack cannot be imported."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, RefuseWebStack())
out = {}
for name in sorted(BLOCKED):
    try:
        __import__(name)
        out.setdefault("importable", []).append(name)
    except ModuleNotFoundError:
        pass

import engine

db = engine.open_database(sys.argv[1])
try:
    seen = []
    sub = db.subscribe(lambda tx: sorted(d["body"] for d in tx.query("notes").collect()),
                       on_change=lambda result, ts: seen.append(result))
    out["initial"] = sub.result
    db.mutate(lambda tx: tx.insert("notes", {"body": "hello"}))
    out["drained"] = bool(db.wait_for_subscriptions(30))
    out["seen"] = seen
    out["read"] = db.read(lambda tx: [d["body"] for d in tx.query("notes").collect()])
    sub.cancel()
finally:
    db.close()

import engine.protocol

out["ts"] = engine.protocol.encode_hlc(5 << 16)

from engine.cli import main

out["serve_rc"] = main(["serve", sys.argv[2], "--data", sys.argv[1] + "-served"])
out["dev_rc"] = main(["dev", sys.argv[2], "--data", sys.argv[1] + "-served"])
out["web_modules_loaded"] = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print("RESULT " + json.dumps(out))
'''


def test_engine_mutation_and_subscription_work_without_the_server_extra(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "db"), str(CHAT)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    assert "importable" not in out, out  # the blocker refused every web package
    assert out["initial"] == [] and out["drained"] is True
    assert out["seen"] == [["hello"]] and out["read"] == ["hello"]
    assert out["ts"] == "QEtMAAAAAAA="  # 5 ms -> 5,000,000 ns, little-endian base64
    assert out["serve_rc"] == 2 and out["dev_rc"] == 2
    errors = [x for x in proc.stderr.splitlines() if x.startswith("ripple: ")]
    assert len(errors) == 2 and all("'server' extra" in e and "pip install 'ripple-db[server]'" in e for e in errors)
    assert "missing: starlette, uvicorn, websockets" in errors[0]
    assert "missing: starlette, uvicorn, websockets, watchfiles" in errors[1]
    assert "Traceback" not in proc.stderr
    assert out["web_modules_loaded"] == []
