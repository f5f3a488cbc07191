"""One view: a page that links its stylesheet through ``{% static %}`` (the hashed name)."""

from __future__ import annotations

from django.urls import path  # type: ignore[import-untyped]

from recipes.django_project.views import home

urlpatterns = [path("", home, name="home")]
