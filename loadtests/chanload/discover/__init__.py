"""Start from your app: what a load should send and expect, found in the app itself or in a recording of it.

`har` (and `infer`, `emit`): `python -m chanload har FILE.har`, a browser recording with websocket frames
(Chrome DevTools' "Save all as HAR", mitmproxy's `hardump`) turned into a Locust config file or a `WsUser`
locustfile. Imports no Locust.
"""
