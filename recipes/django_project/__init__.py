"""A minimal Django project whose ``wsgi.py`` wraps ``get_wsgi_application()`` in the wsgistack stack."""
