"""Benchmarks of this client against the official one (see RESULTS.md); not part of the package."""
