"""Benchmarks (`make bench`): measured on the large demo scale, reported as in-run ratios."""
