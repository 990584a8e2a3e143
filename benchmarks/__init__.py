"""Benchmarks behind `make bench`; each writes its section of BENCHMARKS.md."""
