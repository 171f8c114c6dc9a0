"""A websocket conversation: `Session`, messages and matchers, marks, room pools, pacing.

It knows nothing of Locust's runner: it reports through a `Recording` it is given."""
