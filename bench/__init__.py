"""Benchmarks of the handover-miaw runtime (not tests: pytest never collects them).

Run them all with `python -m bench` (`--quick` for a short smoke run) or one with `python -m bench relay`.
Each prints a table and writes bench/results/<name>.json with its figures, the machine and the command.
"""
