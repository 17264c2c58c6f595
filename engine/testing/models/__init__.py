"""Obviously-correct models the reference kernels and their twins are checked against (tests only)."""
from engine.testing.models.conflict import IntervalMapModel, IntervalSetModel
from engine.testing.models.mvcc import MVCCModel, MVCCStoreModel

__all__ = ["IntervalMapModel", "IntervalSetModel", "MVCCModel", "MVCCStoreModel"]
