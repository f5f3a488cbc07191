from recipes.flask_app.wsgi import (
    flask_app,  # the bare app
    pipeline,  # the Pipeline you deploy
)
from wsgistack.testing import client


def test_home_page() -> None:
    browser = client(flask_app, pipeline=pipeline, layer_lint=True)
    response = browser.get("/")
    assert response.status_int == 200
