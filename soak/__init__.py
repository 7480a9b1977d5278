"""Soak under faults: ``python -m soak.run --minutes 5`` (``make soak``); a short run is in the suite."""
