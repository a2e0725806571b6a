"""WSGI entry for ``bench.import_web``: the production app, with big API imports either in a
worker process (the product's behaviour) or, with ``BENCH_IMPORT_IN_REQUEST=1``, inside the
request as before the worker existed (the comparison the benchmark prints).

    gunicorn -k gevent -w 1 "bench.import_web_app:app"
"""

from __future__ import annotations

import os

from console.api import imports as import_api
from console.app import create_app

if os.environ.get("BENCH_IMPORT_IN_REQUEST") == "1":
    import_api.WORKER_MIN_LINES = 1 << 62

app = create_app(extensions=())
