"""A small Flask application and its ``wsgi.py``, wrapped in the recommended wsgistack stack."""
