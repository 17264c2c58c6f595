"""``python -m bench`` (``make bench``): run the benchmark suites and write results with metadata."""
from __future__ import annotations

import sys

from bench import engine_baseline

if __name__ == "__main__":
    sys.exit(engine_baseline.main(sys.argv[1:]))
