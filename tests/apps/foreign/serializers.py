"""DRF serializers, as a DRF project has them, used by the websocket API (api.py)."""

from __future__ import annotations

from rest_framework import serializers

from foreign.models import Item


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["id", "name", "price"]
