"""Bench: hall first render with many cases, and the map payload against the case count.

Seeds demo cases (the seeder's realistic mix) into a temporary SQLite database in two steps
(``--cases`` / 10, then ``--cases``), and after each step times the request that builds the hall
page for a city duty officer (the Dash page callback: KPI tiles, supervision, league, map,
stream) and measures its payload and the map figure's size. Target (DESIGN.md): ≤ 2 s with
1,000,000 cases, map payload independent of the case count.

    .venv/bin/python -m bench.hall_render --cases 200000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.hall_push import PASSWORD, build_app

PAGE_REQUEST = {
    "output": ".._pages_content.children..._pages_store.data..",
    "outputs": [
        {"id": "_pages_content", "property": "children"},
        {"id": "_pages_store", "property": "data"},
    ],
    "inputs": [
        {"id": "_pages_location", "property": "pathname", "value": "/hall"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ],
    "changedPropIds": ["_pages_location.pathname"],
}


def find_graph(node: Any) -> dict[str, Any] | None:
    if isinstance(node, dict):
        props = node.get("props", {})
        if props.get("id") == "hall-map":
            return dict(props)
        for value in (props.get("children"), *node.values()):
            found = find_graph(value)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = find_graph(item)
            if found is not None:
                return found
    return None


def measure(app: Any, runs: int) -> dict[str, Any]:
    client = app.test_client()
    client.post("/login", data={"username": "bench", "password": PASSWORD})
    client.get("/hall")  # Dash sets itself up on the first request
    times, size, graph = [], 0, None
    for _ in range(runs):
        # Every run reads the figures afresh (the hall shares them between walls for 3 s).
        app.extensions["cc"].extras.get("hall_figures", {}).get("items", {}).clear()
        started = time.perf_counter()
        response = client.post("/_dash-update-component", json=PAGE_REQUEST)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.data[:300]
        size = len(response.data)
        graph = find_graph(json.loads(response.data))
    figure = (graph or {}).get("figure", {})
    points = len(figure.get("data", [{}, {}])[1].get("customdata", [])) if figure else 0
    return {
        "render_first_s": round(times[0], 3),
        "render_median_s": round(statistics.median(times), 3),
        "render_max_s": round(max(times), 3),
        "page_bytes": size,
        "map_bytes": len(json.dumps(figure)),
        "map_points": points,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from dispatch.services import seed

    tmp = Path(tempfile.mkdtemp(prefix="hall-render-"))
    app = build_app(tmp)
    rt = app.extensions["cc"]
    report: dict[str, Any] = {"database": "sqlite", "target": "≤ 2 s at 1,000,000 cases"}
    done = 0
    try:
        for step, total in enumerate((max(args.cases // 10, 1000), args.cases)):
            started = time.perf_counter()
            with rt.session_factory.begin() as db:
                seed.seed_demo(
                    db,
                    rt.deps,
                    rt.regions,
                    rt.reference,
                    total - done,
                    rt.deps.now() - timedelta(minutes=1),
                    rng_seed=11 + step,
                )
            done = total
            seeded = round(time.perf_counter() - started, 1)
            report[f"cases_{total}"] = {"seed_s": seeded, **measure(app, args.runs)}
        small, large = (report[k] for k in list(report)[2:4])
        report["map_bytes_ratio_large_over_small"] = round(
            large["map_bytes"] / small["map_bytes"], 2
        )
    finally:
        rt.stop()
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
