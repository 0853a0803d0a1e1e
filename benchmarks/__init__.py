"""The side-by-side performance harness (see ``benchmarks/run.py`` and docs/performance.md)."""
