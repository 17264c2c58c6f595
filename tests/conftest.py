"""Shared test configuration: hypothesis profiles and small fixtures.

Profiles (select with HYPOTHESIS_PROFILE): ``dev`` (fast, local default), ``ci`` (more examples,
derandomized so CI is reproducible), ``nightly`` (many examples x ENGINE_HYPOTHESIS_MULTIPLIER).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_mult = int(os.environ.get("ENGINE_HYPOTHESIS_MULTIPLIER", "1"))
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "nightly", max_examples=5000 * _mult, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
