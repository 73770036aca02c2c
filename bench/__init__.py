"""Benchmark scripts, run as ``python bench/<script>.py``; ``bench.common`` is what they share."""
