import logging

from wsgistack import RequestIDFilter

for handler in logging.getLogger().handlers:
    handler.addFilter(RequestIDFilter())
