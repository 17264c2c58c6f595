"""The chat example end to end with its functions in the WebAssembly host (what `make run` serves),
through the official npm client: subscriptions, read-your-writes, ConvexError data, and `/wiki` (an
action fetching from loopback, then a scheduled mutation). The component is built once per content
hash into the repository's .cache/components, shared by both passes of `make test`."""
from __future__ import annotations

import pytest

from tests.server.harness import CHAT, run_node, unique


@pytest.mark.slow
def test_chat_example_in_the_wasm_host(make_server, wiki):
    server = make_server(CHAT, name="wasm", host_kind="wasm", start_timeout=300, **wiki.server_options())
    assert "wasm host" in server.log()
    token = unique("wasm")
    out = run_node("chat_session.mjs", server.url, token)
    assert out["inCurrentValue"] and out["inLastCallback"] and out["seenByB"] == f"hello from {token}"
    assert out["tooLong"]["isConvexError"]
    assert out["tooLong"]["data"] == {"code": "MessageTooLong", "maxLength": 2000, "length": 2001}
    assert not out["empty"]["isConvexError"] and "a message needs some text" in out["empty"]["message"]
    assert out["wikiReplyA"] == out["wikiReplyB"] == wiki.extract(f"Topic {token}")
