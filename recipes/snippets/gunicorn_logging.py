logconfig_dict = {
    "loggers": {"gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False}},
}
