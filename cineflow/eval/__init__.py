"""Benchmark suites and reports."""
