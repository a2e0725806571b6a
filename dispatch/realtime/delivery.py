"""Getting deliveries to sockets: push on commit, re-send with backoff, acknowledgements in batches.

One ``DeliveryHub`` per web process. It knows which field users have a socket on *this*
process (so re-sends and replays are done by the process that holds the socket) and runs one
daemon thread that

* writes acknowledgements and "delivered" marks in batches (one short transaction every
  ``flush_interval`` instead of one per event: acknowledgements are the hot path), and
* every ``retry_interval`` re-sends deliveries that are due and still unacknowledged.

Losing a batch of acknowledgements in a crash is harmless: those deliveries are re-sent and the
client drops repeats by ``seq``. Delivery is at least once; effects are exactly once because
every field action carries an idempotency key.

Re-sends follow each phone's progress. A phone receives its deliveries in ``seq`` order on one
socket and acknowledges what it receives, so a due delivery whose ``seq`` is above everything
the phone has acknowledged, while the phone did acknowledge something within the last
``FIRST_RETRY``, is still on its way (queued here, in the kernel or in the phone), not lost:
its re-send is put off, without counting an attempt. Under overload (more summons than the
process or the phones can carry) a timer-only retry re-sent hundreds of deliveries that were
merely late, and each duplicate added to the queue that made them late. A delivery is re-sent
as before when the phone has acknowledged a later one (this one was lost) or has gone quiet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dispatch.services import delivery as delivery_service
from dispatch.services.delivery import Pushed

logger = logging.getLogger(__name__)

NAMESPACE = "/field"
#: Seconds between ``last_seen`` refreshes of connected users.
TOUCH_INTERVAL = 30.0
EVENT = "assignment"

Emit = Callable[..., Any]


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


class DeliveryHub:
    """Push, replay, re-send and acknowledge the deliveries of field users on this process."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        emit: Emit,
        clock: Callable[[], datetime],
        flush_interval: float = 0.05,
        retry_interval: float = 1.0,
    ) -> None:
        self._factory = session_factory
        self._emit = emit
        self._clock = clock
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._lock = threading.Lock()
        self._sids: dict[int, set[str]] = defaultdict(set)
        self._acks: dict[int, set[int]] = defaultdict(set)
        # user -> (online, at, lat, lon): only the latest state matters.
        self._presence: dict[int, tuple[bool, datetime, float | None, float | None]] = {}
        # user -> (highest seq acknowledged, monotonic time of the latest acknowledgement)
        self._progress: dict[int, tuple[int, float]] = {}
        #: How long a phone that acknowledges counts as alive (re-sends behind its progress
        #: wait meanwhile): the first re-send interval.
        self.patience = delivery_service.FIRST_RETRY.total_seconds()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.acked_total = 0
        self.deferred_total = 0

    # -- sockets on this process ---------------------------------------------------------
    def attach(self, user_id: int, sid: str) -> None:
        with self._lock:
            self._sids[user_id].add(sid)

    def detach(self, user_id: int, sid: str) -> bool:
        """Forget a socket; True when it was the user's last one on this process."""
        with self._lock:
            sids = self._sids.get(user_id)
            if sids is None:
                return True
            sids.discard(sid)
            if not sids:
                del self._sids[user_id]
                self._progress.pop(user_id, None)
                return True
            return False

    def local_users(self) -> list[int]:
        with self._lock:
            return list(self._sids)

    def is_local(self, user_id: int) -> bool:
        with self._lock:
            return user_id in self._sids

    # -- sending -------------------------------------------------------------------------
    def push(self, items: Sequence[Pushed]) -> None:
        """Emit committed deliveries to each recipient's room (any process may hold it)."""
        for item in items:
            self._emit(EVENT, item.message(), to=user_room(item.recipient_id), namespace=NAMESPACE)

    def replay(self, sid: str, user_id: int, last_seq: int) -> int:
        """Send ``sid`` every delivery after ``last_seq`` (pages of 500). Returns the count."""
        sent = 0
        while True:
            with self._factory() as db:
                page = delivery_service.since(db, user_id, last_seq)
            for item in page:
                self._emit(EVENT, item.message(), to=sid, namespace=NAMESPACE)
            if page:
                last_seq = page[-1].seq
                sent += len(page)
            if len(page) < 500:
                return sent

    def acknowledge(self, user_id: int, seqs: Sequence[int]) -> None:
        """Queue acknowledgements (written within ``flush_interval``; repeats are harmless)."""
        if seqs:
            with self._lock:
                high = self._progress.get(user_id, (0, 0.0))[0]
                self._progress[user_id] = (max(high, *seqs), time.monotonic())
        self._note(self._acks, user_id, seqs)

    def note_presence(
        self, user_id: int, online: bool, at: datetime, lat: float | None, lon: float | None
    ) -> None:
        """Queue a presence change (a location is kept even if a later change has none)."""
        with self._lock:
            earlier = self._presence.get(user_id)
            if lat is None and earlier is not None:
                lat, lon = earlier[2], earlier[3]
            self._presence[user_id] = (online, at, lat, lon)
        self._wake.set()

    def _note(self, table: dict[int, set[int]], user_id: int, seqs: Sequence[int]) -> None:
        with self._lock:
            table[user_id].update(seqs)
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="field-delivery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        next_retry = 0.0
        next_touch = time.monotonic() + TOUCH_INTERVAL
        while not self._stop.is_set():
            self._wake.wait(self._retry_interval)
            self._wake.clear()
            # Let a burst of acknowledgements gather into one transaction.
            self._stop.wait(self._flush_interval)
            try:
                if time.monotonic() >= next_touch:
                    next_touch = time.monotonic() + TOUCH_INTERVAL
                    self.touch_local()
                self.flush()
                if time.monotonic() >= next_retry:
                    next_retry = time.monotonic() + self._retry_interval
                    self.resend_due()
            except Exception:  # the database may be away for a moment: try again next round
                logger.exception("delivery loop failed; retrying")

    def touch_local(self) -> None:
        """Refresh ``last_seen`` of everyone connected here.

        A process that dies cannot mark its users offline; readers treat "online" with a
        ``last_seen`` older than a few ``TOUCH_INTERVAL`` as offline.
        """
        now = self._clock()
        with self._lock:
            for user_id in self._sids:
                # A change already queued (a location, a disconnect) is newer than a touch.
                if user_id not in self._presence:
                    self._presence[user_id] = (True, now, None, None)

    def flush(self) -> None:
        """Write queued acknowledgements and presence now, in one short transaction.

        Only acknowledgements are written per delivery (one statement for all of them): a
        "delivered" mark per push would cost a write per message on the hot path, so
        ``delivered_at`` is set by the first re-send or, at the latest, by the acknowledgement.
        """
        with self._lock:
            acks, self._acks = self._acks, defaultdict(set)
            presence, self._presence = self._presence, {}
        if not acks and not presence:
            return
        now = self._clock()
        pairs = sorted((user_id, seq) for user_id, seqs in acks.items() for seq in seqs)
        try:
            with self._factory.begin() as db:
                for start in range(0, len(pairs), 500):
                    self.acked_total += delivery_service.acknowledge_pairs(
                        db, pairs[start : start + 500], now
                    )
                for user_id, (online, at, lat, lon) in sorted(presence.items()):
                    delivery_service.update_presence(db, user_id, at, online, lat, lon)
        except Exception:
            # Put them back so the next round writes them; nothing is lost on a hiccup.
            with self._lock:
                for user_id, seqs in acks.items():
                    self._acks[user_id].update(seqs)
                for user_id, state in presence.items():
                    self._presence.setdefault(user_id, state)
            raise

    def resend_due(self) -> int:
        """Re-send due, unacknowledged deliveries of users connected here. Returns the count.

        A due delivery beyond the progress of a phone that is still acknowledging is put off
        instead (see the module docstring).
        """
        users = self.local_users()
        if not users:
            return 0
        now = self._clock()
        sent = deferred = 0
        for start in range(0, len(users), 200):
            chunk = users[start : start + 200]
            with self._factory.begin() as db:
                rows = delivery_service.due(db, chunk, now)
                late = set(self._in_flight(rows))
                resend = [row for row in rows if row.id not in late]
                for row in resend:
                    message = {"seq": row.seq, **row.payload}
                    self._emit(EVENT, message, to=user_room(row.recipient_id), namespace=NAMESPACE)
                delivery_service.mark_sent(db, resend, now)
                delivery_service.put_off(
                    db, [row for row in rows if row.id in late], now, self.patience
                )
                sent += len(resend)
                deferred += len(late)
        self.deferred_total += deferred
        if sent or deferred:
            logger.info(
                "re-sent %d unacknowledged deliveries; %d still in flight put off", sent, deferred
            )
        return sent

    def _in_flight(self, rows: Sequence[Any]) -> list[int]:
        """Ids of due ``rows`` still on their way to a phone that is acknowledging."""
        now = time.monotonic()
        with self._lock:
            progress = dict(self._progress)
        late = []
        for row in rows:
            high, at = progress.get(row.recipient_id, (0, float("-inf")))
            if row.seq > high and now - at < self.patience:
                late.append(row.id)
        return late
