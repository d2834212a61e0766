"""`/healthz`: liveness for load balancers and the compose health check. Checks the database, nothing secret.

Served by a middleware at the very top of the stack: probes come from inside the container or the load balancer
with an internal Host header and over plain HTTP, so host validation and the HTTPS redirect must not apply.
"""

from django.db import connection
from django.http import JsonResponse

HEALTH_PATH = "/healthz"


def _health_response() -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        response = JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    else:
        response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == HEALTH_PATH and request.method in ("GET", "HEAD"):
            return _health_response()
        return self.get_response(request)
