"""Benchmarks of the app (not tests): `python bench/run.py` from the repo root."""
