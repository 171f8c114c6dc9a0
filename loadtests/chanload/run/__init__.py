"""One run's settings, state and verdicts: options validated, thresholds (slo), the capacity finder's decisions,
the run status and exit code, the live view. Plain functions and data; no Locust."""
