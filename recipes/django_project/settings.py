"""Settings of the minimal Django project; the values a deployment changes come from the environment.

Static files are collected by ``ManifestStaticFilesStorage``, which gives each file a name carrying a
hash of its content (``site.css`` becomes ``site.3c0e1e5d1a2b.css``). StaticFiles serves those names
with ``Cache-Control: immutable``, so browsers and CDNs keep them for a year.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-only-for-the-recipe")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = ["django.contrib.staticfiles"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "recipes.django_project.urls"
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [BASE_DIR / "templates"]},
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# Sources under static/, collected to STATIC_ROOT by `python -m django collectstatic`; served from there
# by StaticFiles at STATIC_URL (see wsgi.py), not by Django.
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "collected"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
