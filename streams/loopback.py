"""ICE on a machine with only the loopback interface (test sandboxes, CI namespaces).

aioice skips 127.0.0.1 when it gathers host candidates, so with no other interface aiortc has
no candidate at all and every connection fails (PITFALLS.md). ``ensure_host_candidates`` makes
aioice offer 127.0.0.1 in that case only; Chromium needs ``--allow-loopback-in-peer-connection``
to pair with it.
"""

from __future__ import annotations

import logging

import aioice.ice

logger = logging.getLogger(__name__)

_original = aioice.ice.get_host_addresses


def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = _original(use_ipv4, use_ipv6)
    return addresses or (["127.0.0.1"] if use_ipv4 else [])


def ensure_host_candidates() -> bool:
    """Patch aioice when the machine has no non-loopback address; True when patched."""
    if _original(use_ipv4=True, use_ipv6=False):
        return False
    aioice.ice.get_host_addresses = _with_loopback
    logger.warning("no network interface but loopback: ICE uses 127.0.0.1")
    return True
