"""Benchmarks (issue 5): each `python -m bench.<name>` prints its numbers; see docs/benchmarks.md."""
