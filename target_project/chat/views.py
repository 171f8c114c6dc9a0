"""HTTP views: a health check for load balancers, compose and the test suite."""

from __future__ import annotations

from channels.layers import get_channel_layer
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """`{"status": "ok", "channel_layer": "<backend class name>"}` with HTTP 200."""
    layer = get_channel_layer()
    return JsonResponse({"status": "ok", "channel_layer": type(layer).__name__})
