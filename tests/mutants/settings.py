"""Hypothesis settings shared by the mutant suites that drive the index state machine.

Derandomized, no example database and no shrinking: a fixed, fast search that must find each bug from
scratch every time, so a result never depends on what a local ``.hypothesis`` folder remembers.
"""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

INDEX_MUTANT_SETTINGS = settings(max_examples=300, stateful_step_count=40, derandomize=True, deadline=None,
                                 database=None, phases=(Phase.explicit, Phase.generate),
                                 report_multiple_bugs=False, suppress_health_check=list(HealthCheck))
