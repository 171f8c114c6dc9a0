"""HTTP routes: the health check and Django's admin. Websocket routes live in chatroom.routings."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from chat import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
]
