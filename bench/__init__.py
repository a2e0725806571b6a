"""Benchmarks with their raw baselines measured in the same run (see bench/README.md)."""
