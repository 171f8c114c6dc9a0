"""A GraphQL API with strawberry, served over websockets by strawberry's Channels integration (routing.py).

As strawberry's docs write one: a query type, and a subscription type whose resolver is an async generator.
A client speaks graphql-transport-ws: connection_init -> connection_ack, then `subscribe` frames by id,
answered by `next` frames with that id (and `complete` when the operation ends).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from django.conf import settings


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, target: int = 100_000) -> AsyncGenerator[int, None]:
        """0, 1, 2, ... one every PUSH_INTERVAL seconds (15 ms unless the tests say otherwise)."""
        for i in range(target):
            yield i
            await asyncio.sleep(settings.PUSH_INTERVAL)


schema = strawberry.Schema(query=Query, subscription=Subscription)
