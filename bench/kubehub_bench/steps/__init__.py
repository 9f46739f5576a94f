"""One module per step of `make bench` (BENCH_ONLY names them)."""
