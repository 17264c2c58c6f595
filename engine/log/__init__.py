"""The in-memory write window (recent committed index keys), for OCC checks and subscription refresh.

Not the durable commit log: that is ``engine.persistence``.
"""
