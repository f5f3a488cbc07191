"""gunicorn settings for a wsgistack stack behind a reverse proxy (nginx, a load balancer, a CDN).

    gunicorn --config recipes/gunicorn.conf.py

Several sync workers, the app loaded once before forking (``preload_app``), and wsgistack's AccessLog
instead of gunicorn's own access log. The proxy in front buffers slow clients, terminates TLS and says
so with ``X-Forwarded-Proto``. Settings given on the command line win over these.
"""

from __future__ import annotations

import os

wsgi_app = "recipes.flask_app.wsgi:application"

# Listen where only the proxy can reach; WEB_CONCURRENCY is the usual way for a platform to size it.
bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
worker_class = "sync"  # the proxy buffers requests and responses, so a worker is never held by a slow client

# Import the app (and build every layer: the static file table, compiled options) once, in the master,
# then fork: the workers share that memory and start at once. RequestID draws a new id prefix in each
# worker after the fork, so ids stay unique across workers.
preload_app = True

timeout = 30
graceful_timeout = 30
max_requests = 10_000  # replace each worker now and then, spread out by the jitter
max_requests_jitter = 1_000

# The proxy's address: X-Forwarded-Proto from it sets wsgi.url_scheme (https links, secure cookies).
# Requests from anywhere else cannot claim https.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# One access line per request, written by wsgistack's AccessLog (with the request id and the final
# status) to stdout; gunicorn's own access log stays off. gunicorn merges this dictionary into its
# defaults key by key (a key given here replaces the default's whole value), and keeps its error log.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] [%(name)s] %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "formatter": "message", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "WARNING", "handlers": ["console"]},
    "loggers": {
        "wsgistack.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
    },
}
