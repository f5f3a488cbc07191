import logging.config

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "wsgistack.RequestIDFilter"}},
        "formatters": {
            "access": {"format": "%(message)s"},
            "app": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "access": {"class": "logging.FileHandler", "filename": "access.log", "formatter": "access"},
            "console": {"class": "logging.StreamHandler", "formatter": "app", "filters": ["request_id"]},
        },
        "loggers": {
            "wsgistack.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
        "root": {"level": "INFO", "handlers": ["console"]},
    }
)
