"""Docker HEALTHCHECK for the web container: GET /healthz on the local gunicorn.

Django answers 400 to a Host it does not allow, so the probe sends the first
entry of DJANGO_ALLOWED_HOSTS (a leading "." wildcard is turned into a name).
Exit status 0 = healthy, 1 = unhealthy. Standard library only: slim has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def allowed_host() -> str:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0] if hosts else "localhost"
    if host == "*":
        return "localhost"
    return "healthcheck" + host if host.startswith(".") else host


def main() -> int:
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz", headers={"Host": allowed_host()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (fixed local URL)
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
