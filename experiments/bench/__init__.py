"""Benchmarks, run by command (never by pytest); BENCHMARKS.md holds the commands and figures.

- `python -m experiments.bench.trees`: PBT trees against a loopback server with a fixed delay,
  batched engine vs one-request-at-a-time depth-first vs the ideal for the concurrency;
- `python -m experiments.bench.sim`: simulated agents end to end (turns/s, peak memory).
"""
