"""make bench: kubehub's overhead against direct access, measured on this machine, on loopback.

Run as `python3 -m kubehub_bench <build dir>` from bench/ on the path (scripts/bench.sh does).
See bench/README.md for the steps, the knobs and the results.
"""
