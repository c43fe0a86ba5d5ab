"""Benchmarks, each run from the repository root as a module, e.g. `python -m benchmarks.attention_speed`."""
