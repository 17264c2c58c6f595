"""Transactions (snapshot reads, read sets, write buffers) and the single committer."""
