"""Building app components: content-hash cache, rebuild on change, clear build errors, `ripple build`."""
from __future__ import annotations

import shutil

import pytest

from engine.cli import main
from engine.functions.hosts import make_host
from engine.model.errors import FunctionError

from tests.functions.conftest import CACHE_DIR, KITCHEN, functions_config, open_db


def test_unchanged_app_is_served_from_the_cache(capsys):
    host = make_host("wasm", functions_config())
    first = host.build(str(KITCHEN))
    second = host.build(str(KITCHEN))
    assert second.cached and second.cwasm == first.cwasm and second.key == first.key
    assert main(["build", str(KITCHEN), "--cache", CACHE_DIR]) == 0
    assert capsys.readouterr().out.startswith("cached ")


def test_a_changed_app_gets_a_new_key(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(KITCHEN, app)
    host = make_host("wasm", functions_config(cache_dir=str(tmp_path / "cache")))
    from udf_wasm.build import build_key

    before = build_key(app, host._engine.settings)
    (app / "extra.py").write_text("from ripple import query\n\n@query\ndef hello(ctx, args):\n    return 'hi'\n")
    after = build_key(app, host._engine.settings)
    assert before != after


def test_an_app_that_fails_to_import_is_a_clear_build_error(tmp_path):
    app = tmp_path / "broken"
    app.mkdir()
    (app / "bad.py").write_text("from ripple import query\nraise RuntimeError('broken at import')\n")
    db = open_db()
    for host in ("reference", "wasm"):
        with pytest.raises(FunctionError) as ei:
            db.deploy(app, host=host, config=functions_config(cache_dir=str(tmp_path / "cache")))
        assert "broken at import" in str(ei.value) and ei.value.code in ("DeployError", "BuildError")
    db.close()


def test_missing_app_folder_is_a_clear_error(tmp_path):
    db = open_db()
    with pytest.raises(FunctionError, match="does not exist"):
        db.deploy(tmp_path / "nope", host="reference", config=functions_config())
    db.close()
