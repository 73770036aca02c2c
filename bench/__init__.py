"""Benchmark scripts, each run as ``python -m bench.<script>`` from the repository root;
``bench.common`` is the code they share."""
