"""``engine.protocol``: timestamps round-trip and only their canonical text decodes; the HLC mapping is
strictly increasing and invertible; state versions, ids and log lines are checked; received frames
are parsed strictly; and the package imports nothing beyond the standard library (plus the value codec,
in ``payloads`` only)."""
from __future__ import annotations

import ast
import base64
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import protocol
from engine.model.errors import InvalidValueError
from engine.protocol import ProtocolError, StateVersion

ROOT = Path(__file__).resolve().parents[2]
U63 = st.integers(min_value=0, max_value=2**63 - 1)
HLC = st.builds(lambda ms, logical: (ms << 16) | logical, st.integers(0, 2**40), st.integers(0, 0xFFFF))


@given(U63)
def test_wire_timestamps_round_trip_as_12_char_little_endian_base64(ns):
    text = protocol.encode_ts_ns(ns)
    assert len(text) == 12 and text.endswith("=")
    assert struct.unpack("<Q", base64.b64decode(text))[0] == ns  # the layout, decoded independently
    assert protocol.decode_ts_ns(text) == ns


def test_known_timestamps():
    assert protocol.encode_ts_ns(0) == protocol.ZERO_TS == "AAAAAAAAAAA="
    assert protocol.encode_ts_ns(1) == "AQAAAAAAAAA="
    assert protocol.encode_hlc((7 << 16) | 3) == protocol.encode_ts_ns(7_000_003)


@pytest.mark.parametrize("text", [
    "yAAAAAAAAAA",        # unpadded
    "AAAAAAAAAAB=",       # unused low bits set: decodes to the same bytes, but is not canonical
    "AAAAAAAAAAAA",       # 12 chars, 9 bytes
    "AAAAAAAAAA==",       # 7 bytes
    "////////////",       # 9 bytes
    "//////////8=",       # 2^64 - 1: over i64::MAX
    "AAAAAAAA AA=",       # not base64
    12345678,
    None,
])
def test_malformed_timestamps_are_protocol_errors(text):
    with pytest.raises(ProtocolError, match="malformed timestamp"):
        protocol.decode_ts_ns(text)


@pytest.mark.parametrize("ns", [-1, 2**63])
def test_out_of_range_timestamps_do_not_encode(ns):
    with pytest.raises(ProtocolError):
        protocol.encode_ts_ns(ns)


@given(HLC, HLC)
def test_hlc_mapping_is_strictly_increasing_and_invertible(a, b):
    assert protocol.ts_ns_to_hlc(protocol.hlc_to_ts_ns(a)) == a
    assert protocol.decode_hlc(protocol.encode_hlc(a)) == a
    if a < b:
        assert protocol.hlc_to_ts_ns(a) < protocol.hlc_to_ts_ns(b)


@given(st.integers(0, 2**60), st.integers(0, 2**60))
def test_foreign_wall_clock_ns_map_to_hlc_monotonically(x, y):
    if x <= y:
        assert protocol.ts_ns_to_hlc(x) <= protocol.ts_ns_to_hlc(y)


def test_state_versions_parse_strictly_and_serialize_as_the_backend_does():
    v = protocol.parse_state_version({"querySet": 2, "identity": 1, "ts": "AQAAAAAAAAA=", "extra": True})
    assert v == StateVersion(2, 1, 1) and v != protocol.ZERO_VERSION
    assert v.to_json() == {"querySet": 2, "identity": 1, "ts": "AQAAAAAAAAA="}
    assert v.to_json_text() == '{"querySet":2,"identity":1,"ts":"AQAAAAAAAAA="}'
    for bad in ([], {"querySet": 1.0, "identity": 0, "ts": "AAAAAAAAAAA="},
                {"querySet": True, "identity": 0, "ts": "AAAAAAAAAAA="},
                {"querySet": 0, "identity": -1, "ts": "AAAAAAAAAAA="},
                {"querySet": 0, "identity": 0}):
        with pytest.raises(ProtocolError):
            protocol.parse_state_version(bad)


def test_ids_are_u32_integers():
    assert protocol.parse_u32(0, "queryId") == 0 and protocol.parse_u32(2**32 - 1, "queryId") == 2**32 - 1
    for bad in (-1, 2**32, 1.0, True, "1", None):
        with pytest.raises(ProtocolError, match="requestId"):
            protocol.parse_u32(bad, "requestId")


def test_log_lines_are_required():
    assert protocol.parse_log_lines({"logLines": ["a"]}, "QueryUpdated") == ["a"]
    for bad in ({}, {"logLines": None}, {"logLines": [1]}):
        with pytest.raises(ProtocolError, match="logLines"):
            protocol.parse_log_lines(bad, "QueryUpdated")


@pytest.mark.parametrize("frame, needle", [
    (b"\x00", "binary frames"), ("{nope", "not JSON"), ("[1]", "JSON object"), ('{"type": 3}', "JSON object"),
])
def test_received_frames_parse_strictly(frame, needle):
    with pytest.raises(ProtocolError, match=needle):
        protocol.parse_message(frame)


def test_message_names_are_the_wire_strings():
    assert protocol.parse_message('{"type":"Transition"}')["type"] == protocol.ServerMessage.TRANSITION
    assert protocol.dumps({"type": protocol.ClientMessage.MODIFY_QUERY_SET}) == '{"type":"ModifyQuerySet"}'
    assert {m.value for m in protocol.StateChange} == {"QueryUpdated", "QueryFailed", "QueryRemoved"}
    with pytest.raises(ValueError):
        protocol.dumps({"x": float("nan")})  # special floats travel only as {"$float": ...}


def test_close_reasons_are_cut_on_character_boundaries():
    cut = protocol.truncate_close_reason("é" * 100)
    assert len(cut.encode()) <= protocol.MAX_CLOSE_REASON_BYTES and cut == "é" * 61


def test_argument_shapes():
    assert protocol.args_from_wire([{"a": 1.0}]) == {"a": 1.0} == protocol.args_from_wire({"a": 1.0})
    assert protocol.args_from_wire(None) == {} and protocol.args_to_wire(None) == [{}]
    with pytest.raises(InvalidValueError, match="exactly one"):
        protocol.args_from_wire([{}, {}])
    with pytest.raises(InvalidValueError, match="must be an object"):
        protocol.args_from_wire([3.0])


def test_the_protocol_package_imports_only_the_standard_library_and_the_value_codec():
    allowed_engine = {"engine.protocol"}
    payload_extra = {"engine.model.values", "engine.model.errors"}
    files = sorted((ROOT / "engine" / "protocol").glob("*.py"))
    assert {f.stem for f in files} >= {"__init__", "timestamps", "limits", "messages", "payloads", "errors"}
    bad = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for name in names:
                top = name.partition(".")[0]
                if top == "__future__" or top in sys.stdlib_module_names:
                    continue
                ok = allowed_engine | (payload_extra if path.stem == "payloads" else set())
                if not any(name == a or name.startswith(a + ".") for a in ok):
                    bad.append(f"{path.name} imports {name}")
    assert not bad, bad
