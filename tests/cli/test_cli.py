"""The `ripple` command line: run (embedded and against a server), export/import, dev redeploy (in a
subprocess, and the watcher itself in-process against a real deployment)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import engine
from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "chat"
RIPPLE = str(Path(sys.executable).with_name("ripple"))


def test_run_embedded_prints_the_result_and_logs(capsys, tmp_path):
    data = tmp_path / "db"
    assert main(["run", "messages:send_message", '{"author": "a", "body": "hi"}', "--app", str(CHAT),
                 "--data", str(data)]) == 0
    doc_id = json.loads(capsys.readouterr().out)
    assert main(["run", "messages:get_messages", "--app", str(CHAT), "--data", str(data)]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert [(d["_id"], d["body"]) for d in docs] == [(doc_id, "hi")]


def test_run_reports_function_errors_and_bad_json(capsys):
    assert main(["run", "messages:send_message", '{"author": "a", "body": "   "}', "--app", str(CHAT)]) == 1
    assert "a message needs some text" in capsys.readouterr().err
    assert main(["run", "messages:get_messages", "{not json", "--app", str(CHAT)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_export_import_round_trip_keeps_references(tmp_path, capsys):
    src = engine.open_database(tmp_path / "src")
    a = src.mutate(lambda tx: tx.insert("people", {"name": "ada"}))
    src.mutate(lambda tx: tx.insert("posts", {"author": a, "tags": [a, "x"], "n": 3, "raw": b"\x00\x01"}))
    src.close()
    assert main(["export", "--data", str(tmp_path / "src"), str(tmp_path / "snap")]) == 0
    meta = json.loads((tmp_path / "snap" / "_meta.json").read_text())
    assert meta["tables"] == {"people": 1, "posts": 1}
    other = engine.open_database(tmp_path / "dst")  # the target already holds data: new ids will differ
    other.mutate(lambda tx: tx.insert("unrelated", {"x": 1}))
    other.close()
    assert main(["import", "--data", str(tmp_path / "dst"), str(tmp_path / "snap")]) == 0
    dst = engine.open_database(tmp_path / "dst")
    try:
        person = dst.read(lambda tx: tx.query("people").unique())
        post = dst.read(lambda tx: tx.query("posts").unique())
        assert person["name"] == "ada" and person["_id"] != a
        assert post["author"] == person["_id"] and post["tags"] == [person["_id"], "x"]
        assert post["n"] == 3 and post["raw"] == b"\x00\x01"
    finally:
        dst.close()
    # Importing again without --replace refuses (and changes nothing); with --replace it replaces.
    assert main(["import", "--data", str(tmp_path / "dst"), str(tmp_path / "snap")]) == 1
    assert "already hold documents" in capsys.readouterr().err
    assert main(["import", "--data", str(tmp_path / "dst"), str(tmp_path / "snap"), "--replace"]) == 0
    dst = engine.open_database(tmp_path / "dst")
    assert len(dst.read(lambda tx: tx.query("posts").collect())) == 1
    dst.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(port: int, path: str, args: dict) -> dict:
    body = json.dumps({"path": path, "args": args, "format": "json"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/function", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _wait(pred, timeout=30.0):
    """Poll *pred* until it holds (True) or *timeout* passes (False); the condition decides."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


HELLO = "from ripple import query\n\n@query\ndef hello(ctx, args):\n    return 'hello {}'\n"


def _save(path: Path, text: str) -> None:
    """Save as editors do (write a temporary file, rename it over), so no watcher sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_dev_redeploys_on_change_and_survives_a_broken_edit(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(CHAT, app, ignore=shutil.ignore_patterns("public", "__pycache__"))
    port = _free_port()
    log = open(tmp_path / "dev.log", "w")
    proc = subprocess.Popen([RIPPLE, "dev", str(app), "--port", str(port), "--data", str(tmp_path / "data"),
                             "--host-kind", "reference"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert _wait(lambda: _call(port, "messages:get_messages", {})["status"] == "success"), (tmp_path / "dev.log").read_text()
        assert _wait(lambda: "ripple: watching" in (tmp_path / "dev.log").read_text()), (tmp_path / "dev.log").read_text()
        _save(app / "extra.py", HELLO.format("v1"))
        assert _wait(lambda: _call(port, "extra:hello", {}).get("value") == "hello v1"), (tmp_path / "dev.log").read_text()
        _save(app / "extra.py", "this is not python(\n")
        assert _wait(lambda: "redeploy failed" in (tmp_path / "dev.log").read_text())
        assert _call(port, "extra:hello", {})["value"] == "hello v1"  # the previous version keeps serving
        _save(app / "extra.py", HELLO.format("v2"))
        assert _wait(lambda: _call(port, "extra:hello", {}).get("value") == "hello v2")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_watcher_catches_an_edit_made_before_it_watched_and_ignores_non_app_files(tmp_path):
    """The watcher on a real in-memory deployment: an edit between the deploy and the start of watching
    is redeployed by the baseline check; a change outside the app's files (a ``_private.py`` helper)
    wakes the watcher but does not redeploy; a broken edit fails and keeps the previous version; a good
    edit redeploys. Each step waits on the watcher's own report of that look at the folder."""
    import queue
    import threading

    from engine.functions.loader import app_hash
    from engine.server.deployment import Deployment
    from engine.server.watch import Check, watch_and_redeploy

    app = tmp_path / "app"
    shutil.copytree(CHAT, app, ignore=shutil.ignore_patterns("public", "__pycache__"))
    before = app_hash(app)
    db = engine.open_database(None)
    dep = Deployment(db, app, host="reference")
    _save(app / "extra.py", HELLO.format("v1"))  # after the deploy, before the watcher starts
    checks: queue.Queue = queue.Queue()
    stop, ready = threading.Event(), threading.Event()
    watcher = threading.Thread(target=watch_and_redeploy, args=(dep, stop, before),
                               kwargs={"on_ready": ready.set, "on_check": checks.put})
    watcher.start()
    try:
        assert checks.get(timeout=30) is Check.REDEPLOYED  # the baseline check
        assert ready.wait(30) and dep.deploys == 2
        assert dep.app.run("extra:hello", {}).value == "hello v1"
        _save(app / "_private.py", "X = 1\n")  # not an app file (leading underscore)
        assert checks.get(timeout=30) is Check.UNCHANGED and dep.deploys == 2
        _save(app / "extra.py", "this is not python(\n")
        assert checks.get(timeout=30) is Check.FAILED and dep.deploys == 2
        assert dep.app.run("extra:hello", {}).value == "hello v1"  # the previous version keeps serving
        _save(app / "extra.py", HELLO.format("v2"))
        assert checks.get(timeout=30) is Check.REDEPLOYED and dep.deploys == 3
        assert dep.app.run("extra:hello", {}).value == "hello v2"
    finally:
        stop.set()
        watcher.join(10)
        dep.close()
        db.close()
    assert not watcher.is_alive()  # the stop event ends the watch promptly
