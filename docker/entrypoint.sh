#!/bin/sh
# Container entrypoint: wait until the database accepts connections, then run the command
# (gunicorn, celery worker/beat/flower, or manage.py migrate).
# Set WAIT_FOR_DB=0 to skip the wait; DB_WAIT_TIMEOUT (seconds, default 60) bounds it.
set -eu

if [ "${WAIT_FOR_DB:-1}" != "0" ]; then
    python - <<'PY'
import os
import sys
import time

import django
from django.db import connections
from django.db.utils import OperationalError

django.setup()
timeout = float(os.environ.get("DB_WAIT_TIMEOUT", "60"))
deadline = time.monotonic() + timeout
db = connections["default"]
target = f"{db.vendor} at {db.settings_dict.get('HOST') or db.settings_dict.get('NAME')}"
while True:
    try:
        db.ensure_connection()
    except OperationalError as exc:
        if time.monotonic() > deadline:
            print(f"entrypoint: gave up waiting for {target} after {timeout:.0f}s: {exc}", file=sys.stderr)
            sys.exit(1)
        print(f"entrypoint: waiting for {target}...", file=sys.stderr)
        time.sleep(1)
    else:
        db.close()
        break
PY
fi

exec "$@"
