"""HTTP routes: a JSON-less API login that answers with Django's session cookie, and Django's own LoginView."""

from __future__ import annotations

from django.contrib.auth import authenticate, login
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.authtoken.views import obtain_auth_token


@csrf_exempt  # an API login for scripted clients; browsers would go through a CSRF-protected form
@require_POST
def login_view(request: HttpRequest) -> HttpResponse:
    user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))
    if user is None:
        return HttpResponse("bad credentials", status=403)
    login(request, user)
    return HttpResponse("ok")


urlpatterns = [
    path("login/", login_view),
    # Django's own login form: CSRF-protected, a 302 with the session cookie on success.
    path("accounts/login/", LoginView.as_view(), name="login"),
    # DRF's token endpoint: POST username + password, answered {"token": KEY} (400 to wrong credentials).
    path("api-token-auth/", obtain_auth_token),
]
