"""The `ripple` command line: run (embedded and against a server), export/import, dev redeploy."""
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


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
        (app / "extra.py").write_text("from ripple import query\n\n@query\ndef hello(ctx, args):\n    return 'hello v1'\n")
        assert _wait(lambda: _call(port, "extra:hello", {}).get("value") == "hello v1"), (tmp_path / "dev.log").read_text()
        (app / "extra.py").write_text("this is not python(\n")
        assert _wait(lambda: "redeploy failed" in (tmp_path / "dev.log").read_text())
        assert _call(port, "extra:hello", {})["value"] == "hello v1"  # the previous version keeps serving
        (app / "extra.py").write_text("from ripple import query\n\n@query\ndef hello(ctx, args):\n    return 'hello v2'\n")
        assert _wait(lambda: _call(port, "extra:hello", {}).get("value") == "hello v2")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
