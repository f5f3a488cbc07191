"""The Flask app in the recommended stack. Serve it with ``gunicorn recipes.flask_app.wsgi:application``.

Layers are listed outermost first: the request id is set before anything logs, the access log sees
the final status (including CatchErrors' 500), the body limit applies before anything reads the body,
and static files are answered before Flask is called (inside Compress, which leaves files that are
already compressed alone).
"""

from __future__ import annotations

from pathlib import Path

from recipes.flask_app.app import create_app
from wsgistack import AccessLog, BodyLimit, CatchErrors, Compress, Layer, Pipeline, RequestID, StaticFiles

STATIC = Path(__file__).resolve().parent / "static"

flask_app = create_app()

pipeline = Pipeline(
    Layer(RequestID),
    Layer(AccessLog, format="json"),
    Layer(CatchErrors),
    Layer(BodyLimit, max_bytes=1024 * 1024, limits={"/upload": 10 * 1024 * 1024}),
    Layer(Compress),
    Layer(StaticFiles, directory=STATIC, prefix="/static/", max_age=3600),
)

application = pipeline.wrap(flask_app)
