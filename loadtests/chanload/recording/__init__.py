"""What a run measured: HDR latency recorders and slices, counters, delivery books, the timeline, the worker roll.

Pure data structures: no sockets, no Locust."""
