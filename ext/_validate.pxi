# Included by ext/mvcc.pyx and ext/mvcc_lmdb.pyx: the one compiled ``validate_batch``, twin of
# engine.index.mvcc_kernel.validate_batch (which engine.index.mvcc_lmdb_kernel re-exports). The including
# module provides PyBytes_Check, PyBytes_GET_SIZE, IndexKeyTooLargeError, MAX_INDEX_ID and MAX_TIMESTAMP.


def validate_batch(commits, applied_ts, max_key_bytes):
    """Reject a batch before anything is applied: every strategy's ``apply_batch`` calls this first.

    Raises ValueError unless timestamps strictly increase, exceed *applied_ts* and fit in a u64; ValueError
    for an index id outside u32; ``IndexKeyTooLargeError`` (a ValueError) for a key longer than
    *max_key_bytes*; TypeError for keys/values that are not bytes (values may be None: a tombstone).
    Runtime: O(total writes).
    """
    prev = applied_ts
    cdef Py_ssize_t limit = max_key_bytes
    for ts, by_index in commits:
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise TypeError(f"commit timestamp must be an int, got {ts!r}")
        if ts <= prev:
            raise ValueError(f"commit timestamps must strictly increase and exceed applied_ts: "
                             f"got {ts} after {prev} (applied_ts={applied_ts}); nothing was applied")
        if ts > MAX_TIMESTAMP:
            raise ValueError(f"commit timestamp {ts} does not fit in a u64; nothing was applied")
        for index_id, writes in by_index.items():
            if not isinstance(index_id, int) or isinstance(index_id, bool) or not 0 <= index_id <= MAX_INDEX_ID:
                raise ValueError(f"index id must be an int in 0..2^32-1, got {index_id!r}; nothing was applied")
            for key, value in writes:
                if not PyBytes_Check(key):
                    raise TypeError(f"index key must be bytes, got {type(key).__name__}")
                if PyBytes_GET_SIZE(key) > limit:
                    raise IndexKeyTooLargeError(
                        f"index key of {len(key)} bytes exceeds the limit of {max_key_bytes} bytes "
                        f"(index {index_id}); nothing was applied")
                if value is not None and not PyBytes_Check(value):
                    raise TypeError(f"index value must be bytes or None (tombstone), got {type(value).__name__}")
        prev = ts
