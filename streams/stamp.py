"""A millisecond timestamp drawn into frame pixels and read back (glass-to-glass latency).

The stamp is a row of black/white blocks, big enough to survive VP8 compression at 640x480 and
at tile size: the low 32 bits of the Unix time in milliseconds (wraps every ~49 days, so compare
with ``elapsed_ms``) plus a start and a stop block.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BITS = 32
MASK = (1 << BITS) - 1
_BLOCKS = BITS + 2


def _geometry(width: int, height: int) -> tuple[int, int]:
    block = max(width // _BLOCKS, 2)
    strip = max(height // 12, 4)
    return block, strip


def draw_stamp(img: NDArray[np.uint8], ms: int) -> None:
    """Write ``ms`` into the top strip of a BGR or grey image, in place."""
    height, width = img.shape[:2]
    block, strip = _geometry(width, height)
    ms &= MASK
    bits = [1] + [(ms >> (BITS - 1 - i)) & 1 for i in range(BITS)] + [0]
    for i, bit in enumerate(bits):
        img[0:strip, i * block : (i + 1) * block] = 255 if bit else 0


def read_stamp(grey: NDArray[np.uint8]) -> int | None:
    """Read the stamp back from a grey (luma) image; ``None`` when there is no valid stamp."""
    height, width = grey.shape[:2]
    block, strip = _geometry(width, height)
    row = grey[strip // 4 : strip - strip // 4]
    values = [
        float(row[:, i * block + block // 4 : (i + 1) * block - block // 4].mean())
        for i in range(_BLOCKS)
    ]
    if values[0] < 128 or values[-1] >= 128:
        return None
    ms = 0
    for value in values[1:-1]:
        ms = (ms << 1) | (1 if value >= 128 else 0)
    return ms


def elapsed_ms(stamp: int, now_ms: int) -> int:
    """Milliseconds from ``stamp`` to ``now_ms`` (Unix ms), across the 32-bit wrap."""
    return (now_ms - stamp) & MASK
