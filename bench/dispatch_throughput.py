"""Bench: assignments delivered and acknowledged per second, beside raw python-socketio emit/ack.

One run, two server processes on this machine (threading mode, the embedded default), the same
field clients process for both:

1. **Raw baseline**: a bare Flask-SocketIO server emits messages of the same size as a delivery
   to ``--clients`` python-socketio clients with an ack callback (emit-with-ack), round robin,
   first paced at ``--rate`` messages/s, then as fast as it can.
2. **Dispatcher**: the app factory with the /field namespace on a fresh database. A dispatcher
   summons grid workers over the REST API (``POST /cases/<id>/assignments``, 10 targets a call,
   each call one transaction writing assignments, timeline events, audit rows and deliveries);
   each of ``--clients`` ``FieldClient`` phones receives, de-duplicates and acknowledges
   (batched ``ack`` events, written in batches by the delivery hub). Paced at ``--rate``
   assignments/s, then as fast as the dispatcher can post.

Latency is one way, from the assignment's ``offered_at`` (taken inside the summoning transaction,
before its commit) or the raw message's send time to the moment the phone has it. Throughput is
deliveries acknowledged (written to the database for the dispatcher; ack callbacks run for the
baseline) per second. The headline ("sustained") counts acknowledgements completed from the
first second to the end of the phase, the same window for both; "acked/s" divides everything
acknowledged by the time until the last ack, drain included (the phones batch acks for 0.25 s,
which costs a dispatcher that keeps up ~5% of a 6 s phase). Each phase also reports the CPU
seconds of its server process and of this process (which holds the clients and producers), CPU
per acknowledged delivery, and re-sends. Bounded: four phases of ``--seconds`` plus start-up,
well under 60 s by default.

    .venv/bin/python -m bench.dispatch_throughput --clients 50 --rate 500 --seconds 6

Also printed: each summon's duration as the dispatchers see it (``summon_call``) and, timed
inside the web process, each POST (``server_post``) and each transaction's wait for and hold
of the SQLite write gate (``write_gate_wait`` / ``write_gate_hold``): time spent queueing for
SQLite's one writer, in the web process, or elsewhere (the client process, a busy core).
``--switch-interval`` sets the threading server's GIL hand-off interval.

Figures and their history are in docs/production.md ("Capacity measured on the 2-core
development machine"). Latest, 2026-11-29 after the Core summon, load 1.5-5.8:
``--server gevent --backend postgresql`` 402-502/s paced (p99 31-240 ms), 415-604/s flat
out, ratio 0.49-0.55, 1.3-1.8 ms of web CPU per delivery (1.9-2.5 before); SQLite gevent
490-515/s paced (p99 43-50 ms), 515-676/s flat out (754/s with ``--producers 8``); SQLite
threading 260-501/s paced, 251-704/s flat out, varying with the write gate's hold time. No
re-sends with four or eight producers.

Each producer keeps its HTTP connection when the server allows it (Werkzeug 3.1 closes after
every response, so in practice one connection per call); the server is Werkzeug threaded, one
thread per connection.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import latency_summary

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-" + "x" * 40
TARGETS_PER_CALL = 10
PAYLOAD_BYTES = 1500
WINDOW = 200  # raw flat-out phase: messages in flight at most  # about the size of a delivery (assignment + case summary) as JSON


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def close_all(closers: list[Any]) -> None:
    """Close clients in parallel: each python-socketio disconnect waits for the server."""
    threads = [threading.Thread(target=c) for c in closers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by process ``pid`` (default: this process)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serving_pid(pid: int) -> int:
    """The process that serves: gunicorn's (only) worker, else ``pid`` itself."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if children else pid


class CpuMeter:
    """CPU seconds used by a few processes over one phase (the machine is shared: CPU per
    delivery is steadier than rates when other work competes for the cores)."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.wall = time.perf_counter()

    def read(self) -> dict[str, float]:
        out = {
            f"{name}_cpu_s": round(cpu_seconds(pid) - self.start[name], 2)
            for name, pid in self.pids.items()
        }
        out["wall_s"] = round(time.perf_counter() - self.wall, 2)
        return out


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


# ------------------------------------------------------------------------------------------
# The raw baseline server (run as a subprocess: --serve-raw PORT)
# ------------------------------------------------------------------------------------------
def serve_raw(port: int, mode: str = "threading") -> None:
    if mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
    from flask import Flask, request
    from flask_socketio import SocketIO

    app = Flask(__name__)
    sio = SocketIO(app, async_mode=mode)
    # Only the sockets connected now: each phase connects a fresh set of clients, and messages
    # emitted to an earlier phase's (closed) sockets are dropped without an ack, which used to
    # fill the flat-out window with messages that could never be acknowledged (the phase
    # stalled after ~150 acks).
    sids: dict[str, None] = {}
    sids_lock = threading.Lock()

    @sio.on("connect", namespace="/raw")
    def _connect() -> None:
        with sids_lock:
            sids[request.sid] = None  # type: ignore[attr-defined]

    @sio.on("disconnect", namespace="/raw")
    def _disconnect(_reason: Any = None) -> None:
        with sids_lock:
            sids.pop(request.sid, None)  # type: ignore[attr-defined]

    @sio.on("go", namespace="/raw")
    def _go(data: dict[str, Any]) -> dict[str, Any]:
        rate, seconds = float(data["rate"]), float(data["seconds"])
        pad = "x" * PAYLOAD_BYTES
        acks: list[float] = []
        lock = threading.Lock()

        def acked(*_args: Any) -> None:
            with lock:
                acks.append(time.perf_counter())

        # The previous phase's disconnects may still be in flight: wait until exactly this
        # phase's clients are registered.
        wanted = int(data.get("clients", 0))
        settle = time.perf_counter() + 10
        while True:
            with sids_lock:
                targets = list(sids)
            if not wanted or len(targets) == wanted or time.perf_counter() > settle:
                break
            time.sleep(0.01)
        start = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - start < seconds:
            # Paced: at ``rate``; flat out: closed loop with at most WINDOW messages unacked,
            # the most a server can sustain without an ever-growing queue.
            if (rate and sent >= rate * (now - start)) or (not rate and sent - len(acks) >= WINDOW):
                time.sleep(0.0005)
                continue
            sio.emit(
                "msg",
                {"t": time.time(), "pad": pad},
                to=targets[sent % len(targets)],
                namespace="/raw",
                callback=acked,
            )
            sent += 1
        sending_end = time.perf_counter()
        deadline = time.perf_counter() + 10
        while len(acks) < sent and time.perf_counter() < deadline:
            time.sleep(0.01)
        end = max(acks) if acks else time.perf_counter()
        return {
            "sent": sent,
            "acked": len(acks),
            "elapsed": end - start,
            "send_seconds": sending_end - start,
            "ack_offsets": [round(t - start, 4) for t in acks],
        }

    sio.run(app, host="127.0.0.1", port=port, allow_unsafe_werkzeug=True, log_output=False)


#: Seconds at the start of a phase left out of the sustained rate (connections warming up).
WARMUP = 1.0


def sustained(ack_times: list[float], start: float, end: float) -> float:
    """Acknowledgements per second completed between ``start + WARMUP`` and ``end``.

    ``end`` is when the phase stopped offering work. The overall rate (acked / time until the
    last ack) also counts the drain after ``end``: for the dispatcher that is the phones'
    ack batching (0.25 s) plus the hub's flush (50 ms), so even a dispatcher keeping up with
    a 500/s pace scored ~475/s over 6 s, while the raw baseline's per-message acks drain in a
    millisecond. Same window and definition for both.
    """
    lo, hi = start + WARMUP, end
    if hi <= lo:
        return 0.0
    return round(sum(1 for t in ack_times if lo <= t <= hi) / (hi - lo), 1)


def run_raw(
    port: int, clients: int, rate: float, seconds: float, server_pid: int | None = None
) -> dict[str, Any]:
    import socketio

    latencies: list[float] = []
    lock = threading.Lock()
    conns = []

    def on_msg(data: dict[str, Any]) -> bool:
        with lock:
            latencies.append(time.time() - data["t"])
        return True  # the ack

    for _ in range(clients):
        client = socketio.Client()
        client.on("msg", on_msg, namespace="/raw")
        client.connect(f"http://127.0.0.1:{port}", namespaces=["/raw"], transports=["websocket"])
        conns.append(client)
    meter = CpuMeter({"server": server_pid, "bench": None})
    result: dict[str, Any] = conns[0].call(
        "go",
        {"rate": rate, "seconds": seconds, "clients": clients},
        namespace="/raw",
        timeout=seconds + 30,
    )
    result["cpu"] = meter.read()
    close_all([c.shutdown for c in conns])
    result["rate_per_s"] = round(result["acked"] / result["elapsed"], 1)
    result["sustained_per_s"] = sustained(
        result.pop("ack_offsets"), 0.0, float(result["send_seconds"])
    )
    result["latency"] = latency_summary(latencies)
    return result


# ------------------------------------------------------------------------------------------
# The dispatcher
# ------------------------------------------------------------------------------------------
SERVER = """
import os, sys
if os.environ.get("BENCH_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
from config.settings import load_settings
from console.app import create_app
settings = load_settings()
app = create_app(settings, extensions=("dispatch.realtime.field",))
if os.environ.get("BENCH_TIMING_FILE"):
    import signal
    from bench.dispatch_throughput import instrument
    instrument(app, os.environ["BENCH_TIMING_FILE"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so that atexit writes the file
app.extensions["socketio"].run(app, host="127.0.0.1", port=settings.port,
                               allow_unsafe_werkzeug=True, use_reloader=False, log_output=False)
"""


def instrument(app: Any, path: str) -> None:
    """Time, inside the web process, each POST (WSGI call to end of response) and each
    transaction's wait for and hold of the SQLite write gate; written to ``path`` at exit.

    Tells time spent in the web process from time spent in the client or on the wire, and
    time spent queueing for SQLite's one writer from time spent writing.
    """
    import atexit

    from dispatch.db import session as db_session

    posts: list[float] = []
    waits: list[float] = []
    holds: list[float] = []
    inner = app.wsgi_app

    def timed(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(environ, start_response)
        finally:
            if environ.get("REQUEST_METHOD") == "POST":
                posts.append(time.perf_counter() - started)

    app.wsgi_app = timed
    gate = db_session.WriteGate
    acquire, release = gate.acquire, gate.release
    held: dict[int, float] = {}

    def timed_acquire(self: Any, conn: Any) -> None:
        started = time.perf_counter()
        acquire(self, conn)
        if id(conn) not in held:
            now = time.perf_counter()
            waits.append(now - started)
            held[id(conn)] = now

    def timed_release(self: Any, conn: Any) -> None:
        since = held.pop(id(conn), None) if self.holds(conn) else None
        release(self, conn)
        if since is not None:
            holds.append(time.perf_counter() - since)

    gate.acquire = timed_acquire  # type: ignore[method-assign,assignment]
    gate.release = timed_release  # type: ignore[method-assign,assignment]

    @atexit.register
    def _dump() -> None:
        Path(path).write_text(json.dumps({"posts": posts, "gate_wait": waits, "gate_hold": holds}))


def seed(database_url: str, tmp: Path, clients: int) -> dict[str, Any]:
    """Regions, ``clients`` grid workers, a commander and a few cases ready for triage."""
    from sqlalchemy import select

    from config.settings import load_settings
    from console.app import create_app
    from console.auth import issue_token
    from dispatch.db.models import Region, User
    from dispatch.db.schema import upgrade
    from dispatch.services import cases, users
    from dispatch.services.users import actor_for

    (tmp / "app.yaml").touch()
    settings = load_settings(
        config_file=tmp / "app.yaml",
        database_url=database_url,
        data_dir=tmp / "data",
        secret_key=SECRET,
        simulator=False,
        streams_enabled=False,
    )
    upgrade(database_url)
    app = create_app(settings, extensions=())
    runtime = app.extensions["cc"]
    township = next(r for r in runtime.regions if r.level.value == "township").code
    with runtime.session_factory.begin() as db:
        if db.scalar(select(Region.code).limit(1)) is None:
            for r in runtime.regions:
                db.add(
                    Region(
                        code=r.code,
                        name_zh=r.name_zh,
                        name_en=r.name_en,
                        level=r.level.value,
                        parent_code=r.parent,
                        city_code=runtime.regions.city.code,
                        lon=r.centroid[0],
                        lat=r.centroid[1],
                    )
                )
            db.flush()
        commander = users.create_user(
            db,
            runtime.deps,
            None,
            {
                "username": "bench-commander",
                "password": "bench-pass-1",
                "role": "commander",
                "region_code": runtime.regions.city.code,
            },
        )
        now = runtime.deps.now()
        workers = [
            User(
                username=f"bench-worker-{i}",
                display_name=f"网格员{i}",
                password_hash=commander.password_hash,
                role="grid_worker",
                region_code=township,
                active=True,
                token_generation=0,
                created_at=now,
            )
            for i in range(clients)
        ]
        db.add_all(workers)
        db.flush()
        actor = actor_for(commander, runtime.deps)
        case_ids = [
            cases.create_case(
                db,
                runtime.deps,
                actor,
                {
                    "title": f"压测纠纷{i}",
                    "category": "neighbour",
                    "source": "grid",
                    "region_code": township,
                    "level": "township",
                    "route_to": "triage",
                },
            ).id
            for i in range(8)
        ]
        out = {
            "commander": issue_token(runtime, commander),
            "workers": [(w.id, issue_token(runtime, w)) for w in workers],
            "cases": case_ids,
        }
    runtime.stop()
    return out


class Dispatcher:
    """One dispatcher's HTTP connection, kept alive between summons like a browser's or an
    integration's HTTP client (reconnects when the server closes it)."""

    def __init__(self, base: str, token: str) -> None:
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.conn: http.client.HTTPConnection | None = None
        self.connections = 0
        #: Seconds each summon took, request sent to response read (this process's view).
        self.durations: list[float] = []

    def summon(self, case_id: int, user_ids: list[int]) -> None:
        body = json.dumps(
            {"targets": [{"kind": "grid_worker", "id": u} for u in user_ids]}
        ).encode()
        started = time.perf_counter()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.connections += 1
            try:
                self.conn.request(
                    "POST", f"/api/v1/cases/{case_id}/assignments", body, self.headers
                )
                response = self.conn.getresponse()
                response.read()
            except (http.client.HTTPException, ConnectionError):
                # A kept-alive connection the server had closed before reading this request:
                # reconnect and send it once more (a real client would need an idempotency
                # key to retry safely; here the server does not die mid-request).
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.status != 201:
                raise RuntimeError(f"summon answered {response.status}")
            self.durations.append(time.perf_counter() - started)
            if response.will_close:
                self.close()
            return

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def acked_count(database_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from dispatch.db.models import Delivery
    from dispatch.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        n = conn.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.acked_at.is_not(None))
        )
    engine.dispose()
    return int(n or 0)


def ack_times(database_url: str, since: float) -> list[float]:
    """Wall-clock times (epoch seconds) at which deliveries were acknowledged since ``since``."""
    from datetime import UTC

    from sqlalchemy import create_engine, select

    from dispatch.db.models import Delivery
    from dispatch.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    threshold = datetime.fromtimestamp(since, UTC)
    with engine.connect() as conn:
        rows = conn.scalars(select(Delivery.acked_at).where(Delivery.acked_at >= threshold)).all()
    engine.dispose()
    return [at.timestamp() for at in rows if at is not None]


def resent_count(database_url: str) -> int:
    """Re-sends so far (``attempts`` counts the first send too): a late ack causes them."""
    from sqlalchemy import create_engine, func, select

    from dispatch.db.models import Delivery
    from dispatch.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    with engine.connect() as conn:
        n = conn.scalar(select(func.coalesce(func.sum(Delivery.attempts - 1), 0)))
    engine.dispose()
    return int(n or 0)


def run_dispatcher(
    base: str,
    world: dict[str, Any],
    phones: list[Any],
    database_url: str,
    rate: float,
    seconds: float,
    producers: int = 3,
    server_pid: int | None = None,
) -> dict[str, Any]:
    user_ids = [uid for uid, _ in world["workers"]]
    before_received = sum(len(p.messages) for p in phones)
    before_acked = acked_count(database_url)
    for p in phones:
        p.received_at.clear()
    calls = 0
    lock = threading.Lock()
    meter = CpuMeter({"server": server_pid, "bench": None})
    start = time.perf_counter()
    wall_start = time.time()
    per_call = TARGETS_PER_CALL

    dispatchers = [Dispatcher(base, world["commander"]) for _ in range(producers)]

    def produce(index: int) -> None:
        nonlocal calls
        i = index
        dispatcher = dispatchers[index]
        while (now := time.perf_counter()) - start < seconds:
            with lock:
                if rate and calls * per_call >= rate * (now - start):
                    wait = True
                else:
                    wait = False
                    calls += 1
                    n = calls
            if wait:
                time.sleep(0.002)
                continue
            first = (n * per_call) % len(user_ids)
            targets = [user_ids[(first + k) % len(user_ids)] for k in range(per_call)]
            dispatcher.summon(world["cases"][i % len(world["cases"])], targets)
            i += producers

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall_end = time.time()
    for dispatcher in dispatchers:
        dispatcher.close()
    made = calls * per_call
    deadline = time.perf_counter() + 20
    while time.perf_counter() < deadline:
        got = sum(len(p.messages) for p in phones) - before_received
        if got >= made:
            break
        time.sleep(0.02)
    received_end = time.perf_counter()
    # Acknowledgements are written by the hub in batches: wait for the last ones to land.
    while time.perf_counter() < deadline and acked_count(database_url) - before_acked < made:
        time.sleep(0.05)
    acked_end = time.perf_counter()
    cpu = meter.read()
    acked = acked_count(database_url) - before_acked
    latencies: list[float] = []
    for p in phones:
        for seq, at in list(p.received_at.items()):
            message = p.messages[seq]
            offered = datetime.fromisoformat(message["assignment"]["offered_at"]).timestamp()
            latencies.append(at - offered)  # both wall-clock times on this machine
    return {
        "assignments": made,
        "received": sum(len(p.messages) for p in phones) - before_received,
        "acked": acked,
        "rate_per_s": round(acked / (acked_end - start), 1),
        "sustained_per_s": sustained(ack_times(database_url, wall_start), wall_start, wall_end),
        "received_rate_per_s": round(made / (received_end - start), 1),
        "latency": latency_summary(latencies),
        "resent": resent_count(database_url),
        "http_connections": sum(d.connections for d in dispatchers),
        "summon_call": latency_summary([t for d in dispatchers for t in d.durations]),
        "cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=500, help="paced phase: per second")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--producers", type=int, default=4, help="dispatcher threads posting summons"
    )
    parser.add_argument(
        "--server",
        choices=("threading", "gevent"),
        default="threading",
        help="threading: python -m console run's server (default); gevent: gunicorn -k gevent "
        "-w 1 (docs/production.md). The raw baseline runs in the same mode.",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=0.0,
        help="threading server only: sys.setswitchinterval() in seconds (Python's default "
        "0.005); to measure how much GIL hand-offs cost the web process",
    )
    parser.add_argument("--serve-raw", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--raw-mode", default="threading", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_raw:
        serve_raw(args.serve_raw, args.raw_mode)
        return

    from dispatch.realtime.client import FieldClient

    tmp = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    pg_name = f"cc_bench_dispatch_{os.getpid()}"
    if args.backend == "sqlite":
        database_url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        from bench.common import _pg_admin, pg_url

        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{pg_name}"'.encode())
        database_url = pg_url(pg_name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {
        "clients": args.clients,
        "backend": args.backend,
        "server": args.server,
    }
    try:
        log("seeding")
        world = seed(database_url, tmp, args.clients)
        raw_port, port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "bench.dispatch_throughput"),
                    *("--serve-raw", str(raw_port), "--raw-mode", args.server),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        server_env = {
            **env,
            "CC_DATABASE_URL": database_url,
            "CC_DATA_DIR": str(tmp / "data"),
            "CC_SECRET_KEY": SECRET,
            "CC_SIMULATOR": "false",
            "CC_STREAMS_ENABLED": "false",
            "CC_PORT": str(port),
            "PYTHONPATH": str(REPO_ROOT),
            # The same extensions as the threading server (SERVER above).
            "BENCH_EXTENSIONS": "dispatch.realtime.field",
            "BENCH_TIMING_FILE": str(tmp / "server_posts.json"),
        }
        if args.switch_interval:
            server_env["BENCH_SWITCH_INTERVAL"] = str(args.switch_interval)
        command = [sys.executable, "-c", SERVER]
        if args.server == "gevent":
            command = [
                str(Path(sys.executable).parent / "gunicorn"),
                *("-k", "gevent", "-w", "1", "-b", f"127.0.0.1:{port}"),
                *("--worker-connections", str(args.clients + 100)),
                "bench.dispatch_gevent_app:app",
            ]
        procs.append(
            subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=server_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/healthz")
        wait_for_raw = time.monotonic() + 20
        while True:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", raw_port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > wait_for_raw:
                    raise
                time.sleep(0.1)

        log("servers up; raw baseline")
        raw_pid, web_pid = procs[0].pid, serving_pid(procs[1].pid)
        results["raw_paced"] = run_raw(raw_port, args.clients, args.rate, args.seconds, raw_pid)
        results["raw_max"] = run_raw(raw_port, args.clients, 0, args.seconds, raw_pid)

        log("raw done; connecting phones")
        phones = [FieldClient(base, token).connect() for _, token in world["workers"]]
        try:
            results["dispatch_paced"] = run_dispatcher(
                base, world, phones, database_url, args.rate, args.seconds, args.producers, web_pid
            )
            log("dispatch paced done")
            results["dispatch_max"] = run_dispatcher(
                base, world, phones, database_url, 0, args.seconds, args.producers, web_pid
            )
        finally:
            close_all([p.close for p in phones])
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.backend == "postgresql":
            from bench.common import _pg_admin

            with _pg_admin() as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'.encode())

    timing = tmp / "server_posts.json"
    if timing.exists():  # both phases together, as timed inside the web process
        timed = json.loads(timing.read_text())
        results["server_post"] = latency_summary(timed["posts"])
        if timed["gate_hold"]:  # SQLite only
            results["write_gate_wait"] = latency_summary(timed["gate_wait"])
            results["write_gate_hold"] = latency_summary(timed["gate_hold"])
    paced, raw_paced = results["dispatch_paced"], results["raw_paced"]
    top, raw_top = results["dispatch_max"], results["raw_max"]
    results["ratio_max_rate"] = round(top["sustained_per_s"] / raw_top["sustained_per_s"], 3)
    print(json.dumps(results, indent=1, ensure_ascii=False))
    print()
    print(
        f"{'phase':<16}{'sustained/s':>12}{'acked/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'n':>8}"
        f"{'srv cpu%':>10}{'bench cpu%':>11}{'srv ms/msg':>11}"
    )
    for name, r in (
        ("raw paced", raw_paced),
        ("dispatch paced", paced),
        ("raw max", raw_top),
        ("dispatch max", top),
    ):
        lat, cpu = r["latency"], r["cpu"]
        n = int(r.get("acked", 0)) or 1
        print(
            f"{name:<16}{r['sustained_per_s']:>12}{r['rate_per_s']:>10}{lat.get('p50_ms', '-'):>10}{lat.get('p99_ms', '-'):>10}{lat.get('n', 0):>8}"
            f"{100 * cpu['server_cpu_s'] / cpu['wall_s']:>10.0f}"
            f"{100 * cpu['bench_cpu_s'] / cpu['wall_s']:>11.0f}"
            f"{1000 * cpu['server_cpu_s'] / n:>11.2f}"
        )
    print(
        f"\ndispatch max / raw max = {results['ratio_max_rate']}  "
        f"(targets: >= 500/s sustained, p99 <= 250 ms paced, ratio >= 0.5)"
    )


if __name__ == "__main__":
    main()
