"""Benchmarks: `python -m tests.benchmarks` runs them all and prints a table per benchmark.

Each benchmark compares against a baseline measured in the same run; none is a timed test.
"""
