"""The Locust wiring: the only layer that imports `locust`.

Event listeners (plugin), the user classes, command-line options, the stats tally, load shapes,
the web UI tab, the pre-flight checks and signal handling."""
