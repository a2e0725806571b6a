"""The web process keeps serving during a big import: ``/healthz`` answer times while a CSV of
N cases is POSTed to ``/api/v1/import``, under gunicorn's gevent worker (production mode).

    python -m bench.import_web [--cases 20000] [--backend sqlite|postgresql]

Two servers, each on a new database: one imports big files in a worker process (the product),
one inside the request (as before the worker existed). A poller asks ``/healthz`` every 20 ms
while the import runs; the baseline is the same poller against the same idle server, measured
in the same run. What matters is the worst answer time: a gevent worker does nothing else
while a request holds the CPU.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.common import (
    REPO_ROOT,
    WORK_DIR,
    config,
    demo_rows,
    fresh_database,
    latency_summary,
    make_deps,
    table,
    to_csv,
)
from bench.import_bench import NOW

POLL_SECONDS = 0.02


@dataclass
class Run:
    mode: str
    import_s: float
    imported: int
    idle: dict[str, float]
    busy: dict[str, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(base: str, stop: threading.Event, out: list[float]) -> None:
    """Answer times of ``/healthz`` asked every POLL_SECONDS until ``stop`` is set."""
    with requests.Session() as http:
        while not stop.is_set():
            start = time.perf_counter()
            http.get(f"{base}/healthz", timeout=120).raise_for_status()
            out.append(time.perf_counter() - start)
            stop.wait(POLL_SECONDS)


def polled(base: str, seconds: float) -> list[float]:
    samples: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll, args=(base, stop, samples))
    poller.start()
    time.sleep(seconds)
    stop.set()
    poller.join()
    return samples


def measure(backend: str, in_request: bool, data: bytes) -> Run:
    mode = "in the request (before)" if in_request else "worker process (now)"
    with (
        fresh_database(backend, "cc_bench_import_web", WORK_DIR / "import_web.db") as url,
        tempfile.TemporaryDirectory() as data_dir,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CC_")}
        env.update(
            CC_DATABASE_URL=url,
            CC_DATA_DIR=data_dir,
            CC_ENV="demo",
            CC_SIMULATOR="false",
            CC_STREAMS_ENABLED="false",
            CC_ASYNC_MODE="gevent",
            BENCH_IMPORT_IN_REQUEST="1" if in_request else "0",
            PYTHONPATH=str(REPO_ROOT),
        )
        subprocess.run(
            [sys.executable, "-m", "console", "init-db"],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-k",
                "gevent",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{port}",
                "bench.import_web_app:app",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base)
            token = requests.post(
                f"{base}/api/v1/auth/token",
                json={"username": "commander", "password": "demo1234"},
                timeout=30,
            ).json()["token"]
            idle = polled(base, 2.0)
            busy: list[float] = []
            stop = threading.Event()
            poller = threading.Thread(target=poll, args=(base, stop, busy))
            poller.start()
            start = time.perf_counter()
            answer = requests.post(
                f"{base}/api/v1/import?format=csv",
                data=data,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
                timeout=600,
            )
            import_s = time.perf_counter() - start
            stop.set()
            poller.join()
            answer.raise_for_status()
        finally:
            server.terminate()
            server.wait(30)
    return Run(
        mode, import_s, answer.json()["imported"], latency_summary(idle), latency_summary(busy)
    )


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {base} did not become ready")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args(argv)
    regions, reference = config()
    data = to_csv(demo_rows(regions, make_deps(regions, reference, NOW), NOW, args.cases)).encode()
    print(f"POST /api/v1/import of {args.cases:,} cases ({len(data) / 1e6:.1f} MB), {args.backend}")
    runs = [measure(args.backend, in_request, data) for in_request in (True, False)]

    def ms(summary: dict[str, float]) -> str:
        return f"{summary['p50_ms']} / {summary['p99_ms']} / {summary['max_ms']}"

    print(
        table(
            (
                "import",
                "import s",
                "imported",
                "/healthz while importing: n, p50 / p99 / max ms",
                "idle baseline, same server: p50 / p99 / max ms",
            ),
            (
                (
                    r.mode,
                    f"{r.import_s:.2f}",
                    f"{r.imported:,}",
                    f"{r.busy['n']}, {ms(r.busy)}",
                    ms(r.idle),
                )
                for r in runs
            ),
        )
    )


if __name__ == "__main__":
    main()
