"""Benchmarks of MidJAu against the offline sandbox; ``python -m bench.batch_throughput``."""
