"""Bench: connected field clients per web process (threading mode), beside a raw server.

One run: the app factory with the /field namespace in its own process (``socketio.run``,
threading mode: one server thread per websocket), and a bare Flask-SocketIO server in another
(the raw baseline: same async mode, no authentication, no database). This process opens
``--clients`` websockets to each, speaking the Engine.IO/Socket.IO wire protocol directly so
that thousands of sockets cost a file descriptor each here rather than threads; one thread
answers the servers' pings.

For each server: how many sockets connected (token checked, rooms joined, presence written and
replay run for the dispatcher), how long that took, ``/healthz`` latency with every socket open,
and for the dispatcher one assignment to a team holding every user (fan-out to all sockets)
until the last socket has it. Bounded by ``--timeout`` per phase.

    .venv/bin/python -m bench.dispatch_clients --clients 300
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket

from bench.dispatch_throughput import REPO_ROOT, SECRET, SERVER, free_port, log, seed, wait_healthy


class Sockets:
    """Many raw Socket.IO websockets; a thread answers pings and counts deliveries."""

    def __init__(self) -> None:
        self.socks: list[websocket.WebSocket] = []
        self.delivered: dict[int, float] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def open(self, port: int, namespace: str, auth: dict[str, Any] | None) -> bool:
        try:
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=10
            )
            opening = ws.recv()  # '0{"sid":...,"pingInterval":...}'
            if not str(opening).startswith("0"):
                ws.close()
                return False
            ws.send(f"40{namespace}," + json.dumps(auth or {}))
            while True:
                reply = str(ws.recv())
                if reply.startswith(f"40{namespace},"):
                    break
                if reply.startswith(f"44{namespace},"):
                    ws.close()
                    return False
                if reply == "2":
                    ws.send("3")
        except (OSError, websocket.WebSocketException):
            return False
        ws.settimeout(0)
        with self._lock:
            self.socks.append(ws)
        return True

    def _pump(self) -> None:
        # poll(), not select(): select() cannot watch file descriptors above 1023.
        poller = select.poll()
        by_fd: dict[int, websocket.WebSocket] = {}
        while not self._stop.is_set():
            with self._lock:
                fresh = [ws for ws in self.socks if ws.fileno() not in by_fd]
            for ws in fresh:
                by_fd[ws.fileno()] = ws
                poller.register(ws.fileno(), select.POLLIN)
            for fd, _ in poller.poll(50):
                ws = by_fd[fd]
                try:
                    frame = str(ws.recv())
                except (OSError, websocket.WebSocketException):
                    poller.unregister(fd)
                    continue
                if frame == "2":
                    ws.send("3")
                elif frame.startswith('42/field,["assignment"'):
                    with self._lock:
                        self.delivered[id(ws)] = time.perf_counter()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for ws in self.socks:
            try:
                ws.abort()
                ws.close(timeout=0)
            except Exception:
                pass


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_port(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def healthz_ms(url: str, n: int = 10) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def connect_many(
    port: int, namespace: str, auths: list[dict[str, Any] | None], timeout: float
) -> dict[str, Any]:
    sockets = Sockets()
    start = time.perf_counter()
    ok = 0
    for auth in auths:
        if time.perf_counter() - start > timeout:
            break
        if sockets.open(port, namespace, auth):
            ok += 1
    elapsed = time.perf_counter() - start
    return {"sockets": sockets, "connected": ok, "seconds": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--timeout", type=float, default=25, help="seconds per connect phase")
    parser.add_argument(
        "--server",
        choices=("threading", "gevent"),
        default="threading",
        help="threading: python -m console run's server; gevent: gunicorn -k gevent -w 1 "
        "(production mode, the whole app factory)",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-clients-"))
    database_url = f"sqlite:///{tmp / 'bench.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, Any] = {"clients": args.clients, "mode": args.server}
    try:
        log("seeding")
        world = seed(database_url, tmp, args.clients)
        team_id = put_everyone_in_a_team(database_url, [u for u, _ in world["workers"]])
        raw_port, port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.dispatch_throughput"),
                    *("--serve-raw", str(raw_port), "--raw-mode", args.server),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_port(raw_port)
        log(f"raw: opening {args.clients} sockets")
        raw = connect_many(raw_port, "/raw", [None] * args.clients, args.timeout)
        results["raw"] = {"connected": raw["connected"], "seconds": raw["seconds"]}
        raw["sockets"].close()
        stop(procs.pop())  # the baseline must not load the machine while the dispatcher runs

        server_env = {
            **env,
            "CC_DATABASE_URL": database_url,
            "CC_DATA_DIR": str(tmp / "data"),
            "CC_SECRET_KEY": SECRET,
            "CC_SIMULATOR": "false",
            "CC_STREAMS_ENABLED": "false",
            "CC_PORT": str(port),
            "PYTHONPATH": str(REPO_ROOT),
        }
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

        log(f"dispatcher: opening {args.clients} sockets")
        auths: list[dict[str, Any] | None] = [
            {"token": token, "last_seq": 0} for _, token in world["workers"]
        ]
        field = connect_many(port, "/field", auths, args.timeout)
        sockets: Sockets = field["sockets"]
        results["dispatcher"] = {
            "connected": field["connected"],
            "seconds": field["seconds"],
            "healthz_ms_with_all_open": healthz_ms(f"{base}/healthz"),
        }
        log("fan-out: one assignment to a team of everyone")
        t0 = time.perf_counter()
        summon_team(base, world["commander"], world["cases"][0], team_id)
        deadline = time.perf_counter() + args.timeout
        while len(sockets.delivered) < field["connected"] and time.perf_counter() < deadline:
            time.sleep(0.01)
        if sockets.delivered:
            results["dispatcher"]["fanout_delivered"] = len(sockets.delivered)
            results["dispatcher"]["fanout_last_ms"] = round(
                (max(sockets.delivered.values()) - t0) * 1000, 1
            )
        sockets.close()
    finally:
        for proc in procs:
            stop(proc)
    results["ratio_connected"] = round(
        results["dispatcher"]["connected"] / max(results["raw"]["connected"], 1), 3
    )
    print(json.dumps(results, indent=1))
    print(
        f"\n{args.server} mode: dispatcher {results['dispatcher']['connected']} / raw "
        f"{results['raw']['connected']} sockets (target >= 300 threading, >= 2000 gevent)"
    )


def put_everyone_in_a_team(database_url: str, user_ids: list[int]) -> int:
    from sqlalchemy import create_engine, update
    from sqlalchemy import select as sql_select
    from sqlalchemy.orm import Session

    from dispatch.db.models import Team, User
    from dispatch.db.session import normalise_url

    engine = create_engine(normalise_url(database_url))
    with Session(engine) as db, db.begin():
        township = db.scalar(sql_select(User.region_code).where(User.id == user_ids[0]))
        team = Team(name="压测队", kind="grid", region_code=township)
        db.add(team)
        db.flush()
        db.execute(update(User).where(User.id.in_(user_ids)).values(team_id=team.id))
        team_id = team.id
    engine.dispose()
    return team_id


def summon_team(base: str, token: str, case_id: int, team_id: int) -> None:
    body = json.dumps({"targets": [{"kind": "team", "id": team_id}]}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/cases/{case_id}/assignments",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


if __name__ == "__main__":
    main()
