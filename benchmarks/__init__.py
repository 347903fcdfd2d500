"""Benchmarks of the kit: scripts that print figures, run by hand (see README.md)."""
