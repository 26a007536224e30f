"""Fault loops and soak: CI-sized under `make test`, full-sized under `make soak` (`OAS_SOAK=full`).

Each test records one tally line (`tests.support.tallies`), printed at the end of the run.
"""
