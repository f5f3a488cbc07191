import logging.config

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "wsgistack.RequestIDFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}
        },
        "root": {"level": "INFO", "handlers": ["console"]},
    }
)
