"""Benchmarks: run with `python3 bw.py bench`; never part of the tests."""
