"""The HTTP server: REST API, authentication, problem details, logs and metrics."""

from casework.server.app import create_app
from casework.server.settings import Settings

__all__ = ["Settings", "create_app"]
