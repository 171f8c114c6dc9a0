"""A Locust user for tests/test_subprotocols.py whose class offers a subprotocol to tests/apps/subprotocols.py.

`locust -f tests/apps/subprotocol_users.py GraphqlUser ...` connects to pick/{group}, where the app takes
the first name offered and answers each message `OK graphql-transport-ws`.
"""

from __future__ import annotations

from chanload import EchoUser


class GraphqlUser(EchoUser):
    route = "pick/{group}"
    subprotocols = ("graphql-transport-ws",)  # --ws-subprotocol overrides it
    expect = "OK graphql-transport-ws"  # the app answers with the subprotocol it picked
