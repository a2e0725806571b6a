"""``python -m streams serve``: the streams component as a process of its own."""

from __future__ import annotations

from streams.server import main

main()
