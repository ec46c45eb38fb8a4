"""Benchmarks: plain scripts named bench_*.py, each with a main(); `make bench` runs them all."""
