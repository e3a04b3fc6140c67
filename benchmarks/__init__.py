"""Benchmarks: `python -m benchmarks` (or `./dev.sh bench`) prints the performance figures;
the other modules here are scripts of their own."""
