"""Watching a run from outside: the Prometheus exporter, and the samplers of the target's resources (--watch,
--watch-redis)."""
