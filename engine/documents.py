"""Documents as the indexes see them: index keys of a document and the stored by_id value.

Who may call it: transactions (to overlay their own writes on scans), the committer (index updates) and
replay (rebuilding indexes from the log), all through one ``DocumentKeys`` instance owned by the
database, so the three can never disagree and all use the same key-codec kernel (the reference
``engine.encoding`` or its Cython twin, which produce identical bytes).

The ``by_id`` value is ``u64 BE version ts || encoded document``: carrying the version's commit ts lets a
reader learn ``prev_ts`` for its next write without a second lookup. Other indexes store the document id
(UTF-8) as the value; the id is also the last element of every key.
"""
from __future__ import annotations

import struct
from types import ModuleType

from engine import encoding as reference_codec
from engine.catalog import BY_ID, BY_CREATION_TIME, IndexInfo

_TS = struct.Struct(">Q")


class DocumentKeys:
    """Index keys of documents, computed with one key-codec kernel. Each method is O(size of the key)."""

    __slots__ = ("codec",)

    def __init__(self, codec: ModuleType = reference_codec) -> None:
        self.codec = codec

    def index_key(self, ix: IndexInfo, doc: dict) -> bytes:
        """The key of *doc* (a full document with ``_id`` and ``_creationTime``) in index *ix*."""
        doc_id = doc["_id"]
        if ix.name == BY_ID:
            return self.codec.index_key((), doc_id)
        if ix.name == BY_CREATION_TIME:
            return self.codec.index_key((doc["_creationTime"],), doc_id)
        return self.codec.index_key_for_document(doc, ix.key_fields, doc_id)

    def id_key(self, doc_id: str) -> bytes:
        """The by_id key of a document id."""
        return self.codec.index_key((), doc_id)

    def keys_for(self, table, doc: dict) -> dict[int, bytes]:
        """*doc*'s key in every index of *table* (raises IndexKeyTooLargeError for an unstorable key)."""
        return {ix.index_id: self.index_key(ix, doc) for ix in list(table.indexes.values())}


REFERENCE_KEYS = DocumentKeys()


def by_id_value(ts: int, encoded_doc: bytes) -> bytes:
    return _TS.pack(ts) + encoded_doc


def split_by_id_value(value: bytes) -> tuple[int, bytes]:
    """(version ts, encoded document) from a stored by_id value."""
    return _TS.unpack_from(value)[0], value[8:]
