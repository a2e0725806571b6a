"""WSGI entry for the gevent benchmark: the app factory with Socket.IO in gevent async mode.

``console.app.create_app`` builds Socket.IO in threading mode (the embedded default). Under
``gunicorn -k gevent`` the right mode is ``gevent`` (greenlets and gevent's own websocket
handling); until the factory takes the mode from settings, this entry point forces it so the
benchmark measures the production configuration that docs/production.md describes.

    gunicorn -k gevent -w 1 "bench.dispatch_gevent_app:app"
"""

from __future__ import annotations

import os
from typing import Any

import flask_socketio

_original_init = flask_socketio.SocketIO.__init__


def _gevent_init(self: Any, app: Any = None, **kwargs: Any) -> None:
    kwargs["async_mode"] = "gevent"
    _original_init(self, app, **kwargs)


flask_socketio.SocketIO.__init__ = _gevent_init

from console.app import create_app  # noqa: E402  (after the patch above, on purpose)

# BENCH_EXTENSIONS (comma-separated module names) narrows the app to what a benchmark
# measures, as its threading-mode server does; unset: every extension, as in production.
_only = os.environ.get("BENCH_EXTENSIONS")
app = create_app(extensions=tuple(_only.split(",")) if _only else None)

# BENCH_TIMING_FILE: where to write, at exit, how long each POST took inside this process and
# how long writers waited for and held the SQLite write gate (see dispatch_throughput.instrument).
if os.environ.get("BENCH_TIMING_FILE"):
    from bench.dispatch_throughput import instrument

    instrument(app, os.environ["BENCH_TIMING_FILE"])
