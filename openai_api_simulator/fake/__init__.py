"""The deterministic fake model `gpt-sim-1`.

Everything here is pure: outputs are a function of the request and nothing else (no clock, no global
random state), so the same request gives the same bytes on every run and machine.
"""
