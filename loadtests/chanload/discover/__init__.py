"""Start from your app: what a load should send and expect, found in the app itself or in a recording of it.

`routes` (and `paths`, `consumers`, `command`): `python -m chanload routes` reads a Channels app's websocket routes.
Django and Channels are the app's, not chanload's: they are imported only when that command runs.

`har` (and `infer`, `emit`, `shape`, `cli`): `python -m chanload har FILE.har`, a browser recording with websocket
frames (Chrome DevTools' "Save all as HAR", mitmproxy's `hardump`) turned into a Locust config file or a `WsUser`
locustfile. Imports no Locust.
"""
