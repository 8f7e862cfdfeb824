"""The AI agent HTTP service: Flask on gunicorn, sessions in Redis, Prometheus metrics."""

__version__ = "0.1.0"
