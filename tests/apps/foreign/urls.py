"""HTTP routes: a JSON-less API login that answers with Django's session cookie."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt  # an API login for scripted clients; browsers would go through a CSRF-protected form
@require_POST
def login_view(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponse("bad credentials", status=403)
    login(request, user)
    return HttpResponse("ok")


urlpatterns = [path("login/", login_view)]
