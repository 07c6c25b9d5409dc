"""Benchmarks: plain scripts, each printing its numbers beside a baseline measured in the same
run. Run one from the repository's root as a module, e.g. `python -m bench.load_time`; the
stand-in comes from `tests.support` as a package."""
