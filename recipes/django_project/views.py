"""The project's one view."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
from django.shortcuts import render  # type: ignore[import-untyped]


def home(request: HttpRequest) -> HttpResponse:
    # The stack around Django puts the request id in the environ, which Django exposes as META.
    return render(request, "home.html", {"request_id": request.META.get("wsgistack.request_id")})
