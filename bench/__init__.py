"""Benchmarks with their results files (run as scripts: python bench/<name>.py)."""
