"""A REST-like websocket API with djangochannelsrestframework (DCRF), as its README writes one.

Every reply is {"action", "data", "errors", "response_status", "request_id"}, request_id as sent:
  {"action": "list", "request_id": N}               -> data: every item, 200
  {"action": "retrieve", "pk": P, "request_id": N}  -> data: the item, 200; or errors: ["Not found."], 404
  {"action": "price", "pk": P, "request_id": N}     -> a custom action: data {"pk": P, "price": "..."}, 200
"""

from __future__ import annotations

from djangochannelsrestframework import permissions
from djangochannelsrestframework.decorators import action
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer
from djangochannelsrestframework.mixins import ListModelMixin, RetrieveModelMixin

from foreign.models import Item
from foreign.serializers import ItemSerializer


class ItemConsumer(ListModelMixin, RetrieveModelMixin, GenericAsyncAPIConsumer):
    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    permission_classes = (permissions.AllowAny,)

    @action()  # not async: DCRF runs it in database_sync_to_async
    def price(self, pk=None, **kwargs):
        item = self.get_object(pk=pk)
        return {"pk": item.pk, "price": str(item.price)}, 200
