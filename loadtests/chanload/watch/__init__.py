"""Watching a run from outside: the Prometheus exporter."""
