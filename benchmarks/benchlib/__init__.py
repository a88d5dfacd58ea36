"""Harness for flaskfleet's side-by-side benchmarks (see benchmarks/README.md).

Everything here is a script helper, not a test: ``benchmarks/run.py`` is the entry point.
"""
