"""Performance benchmark suite: `uv run python -m bench` writes docs/performance.md (see bench/README.md)."""
