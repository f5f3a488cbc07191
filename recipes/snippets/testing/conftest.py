import pytest

from recipes.flask_app.wsgi import application
from wsgistack.core import WSGIApplication


@pytest.fixture
def wsgi_app() -> WSGIApplication:
    return application
