"""Documents as the indexes see them: index keys of a document, its stored bytes and the by_id value.

Who may call it: transactions (to stage writes and overlay them on scans), the committer (index updates),
replay (rebuilding indexes from the log), migration and inspection, all through one ``DocumentKeys``
instance owned by the database, so they can never disagree and all use the same kernels: the key codec
(the reference ``engine.encoding`` or its Cython twin) and the document codec (``engine.doccodec`` or its
twin), each pair producing identical bytes.

The ``by_id`` value is ``u64 BE version ts || encoded document``: carrying the version's commit ts lets a
reader learn ``prev_ts`` for its next write without a second lookup. Other indexes store the document id
(UTF-8) as the value; the id is also the last element of every key.
"""
from __future__ import annotations

import struct
from types import ModuleType

from engine import doccodec as reference_doccodec
from engine import encoding as reference_codec
from engine.catalog import BY_ID, BY_CREATION_TIME, IndexInfo

_TS = struct.Struct(">Q")


class DocumentKeys:
    """Index keys of documents, computed with one key-codec kernel (``codec``), and their stored bytes,
    with one document-codec kernel (``docs``). Key methods are O(size of the key), codec methods
    O(size of the document)."""

    __slots__ = ("codec", "docs", "encode", "decode", "decode_many")

    def __init__(self, codec: ModuleType = reference_codec, docs: ModuleType = reference_doccodec) -> None:
        self.codec = codec
        self.docs = docs
        #: ``encode(doc) -> bytes``: validate a full document (system fields allowed) and encode it.
        self.encode = docs.encode_document
        #: ``decode(data, offset=0) -> dict``: a stored document back as Python objects.
        self.decode = docs.decode_document
        #: ``decode_many(items, offset=0) -> list[dict]``: a batch of stored documents.
        self.decode_many = docs.decode_many

    def decode_by_id(self, value: bytes) -> dict:
        """The document inside a stored by_id value (after its 8-byte version ts), without a copy."""
        return self.decode(value, 8)

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
        """*doc*'s key in every index of *table* (raises IndexKeyTooLargeError for an unstorable key).
        One kernel call (``document_keys``) for all of the table's indexes."""
        return self.codec.document_keys(doc, tuple(table.indexes.values()), doc["_id"])


REFERENCE_KEYS = DocumentKeys()


def document_index_writes(keys: DocumentKeys, table, doc_id: str, ts: int, old_doc: dict | None,
                          new_encoded: bytes | None, out: dict[int, list], *,
                          old_keys: dict[int, bytes] | None = None, new_keys: dict[int, bytes] | None = None,
                          new_doc: dict | None = None, only: set[int] | None = None,
                          touched: list[tuple[IndexInfo, bytes]] | None = None) -> None:
    """Append to *out* (index id -> [(key, value | None)]) what one document write at *ts* does to every
    index of *table*: the single derivation shared by the committer, log replay and index backfill.

    - the old key gets a tombstone when the key changed (or the document was deleted);
    - ``by_id`` gets a new version on every write (its value carries the document);
    - other indexes get a new entry only when the key changed (their value is just the id).
    ``touched`` (a list) receives ``(ix, key)`` for every old and new key, changed or not: to a reader of a
    key, an unchanged key whose document changed is still a write (the write window records these). Keys
    already known (``old_keys``/``new_keys``, computed when the write was staged) are reused; others are computed, from
    *new_doc* or else by decoding *new_encoded*. *only* restricts the work to some index ids.
    """
    id_bytes: bytes | None = None
    for ix in list(table.indexes.values()):
        if only is not None and ix.index_id not in only:
            continue
        old_key = None
        if old_doc is not None:
            old_key = (old_keys.get(ix.index_id) if old_keys else None) or keys.index_key(ix, old_doc)
        new_key = None
        if new_encoded is not None:
            new_key = new_keys.get(ix.index_id) if new_keys else None
            if new_key is None:
                if new_doc is None:
                    new_doc = keys.decode(new_encoded)
                new_key = keys.index_key(ix, new_doc)
        lst = out.setdefault(ix.index_id, [])
        if old_key is not None and old_key != new_key:
            lst.append((old_key, None))
            if touched is not None:
                touched.append((ix, old_key))
        if new_key is not None:
            if ix.name == BY_ID:
                lst.append((new_key, by_id_value(ts, new_encoded)))  # type: ignore[arg-type]
            elif old_key != new_key:
                if id_bytes is None:
                    id_bytes = doc_id.encode()
                lst.append((new_key, id_bytes))
            if touched is not None:
                touched.append((ix, new_key))
        if not lst:
            del out[ix.index_id]


def by_id_value(ts: int, encoded_doc: bytes) -> bytes:
    return _TS.pack(ts) + encoded_doc


def by_id_ts(value: bytes) -> int:
    """The version ts of a stored by_id value."""
    return _TS.unpack_from(value)[0]


def split_by_id_value(value: bytes) -> tuple[int, bytes]:
    """(version ts, encoded document) from a stored by_id value."""
    return _TS.unpack_from(value)[0], value[8:]
