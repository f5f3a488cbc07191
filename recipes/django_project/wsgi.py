"""The Django project in the recommended stack. Collect the static files first, then serve it:

    python -m django collectstatic --noinput --settings recipes.django_project.settings
    gunicorn recipes.django_project.wsgi:application

StaticFiles serves STATIC_ROOT at STATIC_URL, so static files never reach Django; their hashed names
are served ``immutable``. Run ``wsgistack compress`` on STATIC_ROOT after collectstatic to serve
precompressed variants (``.br``, ``.zst``, ``.gz``) without compressing per request.
"""

from __future__ import annotations

import os

from django.conf import settings  # type: ignore[import-untyped]
from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]

from wsgistack import AccessLog, BodyLimit, CatchErrors, Compress, Layer, Pipeline, RequestID, StaticFiles

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recipes.django_project.settings")

django_app = get_wsgi_application()

pipeline = Pipeline(
    Layer(RequestID),
    Layer(AccessLog, format="json"),
    Layer(CatchErrors),
    Layer(BodyLimit, max_bytes=10 * 1024 * 1024),
    Layer(Compress),
    Layer(StaticFiles, directory=settings.STATIC_ROOT, prefix=settings.STATIC_URL),
)

application = pipeline.wrap(django_app)
