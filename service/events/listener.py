"""The replica's one LISTEN connection and its fan-out to event streams and workers.

A stream subscribes to its job before reading anything (so nothing committed
in between is missed), and the listener `LISTEN`s on the job's channel while
at least one stream wants it. A notification is only a hint ("job X has
events up to seq n"): each job's `Topic` reads the new rows once for all its
streams on this replica, so a dropped or coalesced NOTIFY loses nothing and
no event is sent twice. A sweep re-reads `event_seq` of every listened job
each second, which finds events whose NOTIFY never came (a replica that died
between its commit and its NOTIFY, or a listener that was reconnecting).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import structlog

from service.db.pool import DB_ERRORS, connect
from service.db.ports import EventLog
from service.domain.jobs import QUEUED_CHANNEL, Event, channel
from service.domain.schedules import SCHEDULES_CHANNEL

log = structlog.get_logger(__name__)

#: events a topic keeps in memory for streams that are a little behind
CACHE_SIZE = 128


def _seq(event: Event) -> int:
    return event.seq


class Topic:
    """One job's events as this replica knows them, shared by the job's streams."""

    def __init__(
        self, job_id: uuid.UUID, store: EventLog, on_hint: Callable[[Topic], None]
    ) -> None:
        self.job_id = job_id
        self.subscriptions: set[Subscription] = set()
        self._store = store
        self._on_hint = on_hint
        self._hinted = 0  # the newest seq we were told of
        self._fetched = 0  # the newest seq read into the cache
        self._probe = False  # read once even without a hint (just LISTENed)
        self._cache: list[Event] = []
        self._lock = asyncio.Lock()

    @property
    def fetched(self) -> int:
        return self._fetched

    @property
    def behind(self) -> bool:
        """Told of events that are not in the cache yet (or asked to look)."""
        return self._hinted > self._fetched or self._probe

    def hint(self, seq: int) -> None:
        """Events up to `seq` exist: the listener reads them (for many topics in one
        statement) and then wakes the streams."""
        if seq > self._hinted:
            self._hinted = seq
            self._on_hint(self)

    def wake(self) -> None:
        for subscription in self.subscriptions:
            subscription.wake()

    def start_at(self, seq: int) -> None:
        """A new topic of a job whose events up to `seq` exist (the database said so): its
        cache starts there, and streams that need older rows read them themselves."""
        self._hinted = self._fetched = seq

    def probe(self) -> None:
        """Look for new rows once: events committed before our LISTEN took effect, whose
        NOTIFY went out before anyone here listened (the sweep would find them, later)."""
        self._probe = True
        self._on_hint(self)

    async def events_after(self, seq: int) -> list[Event]:
        if self.behind:
            async with self._lock:
                if self.behind:
                    self.remember(await self._store.events_after(self.job_id, self._fetched))
        cached = self.cached_after(seq)
        if cached is not None:
            return cached
        return await self._store.events_after(self.job_id, seq)  # far behind: read it all

    def cached_after(self, seq: int) -> list[Event] | None:
        """The cached events after `seq`, or None when some of them are not in the cache."""
        first_cached = self._cache[0].seq if self._cache else self._fetched + 1
        if seq + 1 < first_cached:
            return None
        # every stream asks on every event: a slice, not a scan of the whole cache
        return self._cache[bisect.bisect_right(self._cache, seq, key=_seq) :]

    def remember(self, events: list[Event]) -> None:
        """Add rows read after `fetched` (whoever read them: rows already cached are skipped)."""
        self._probe = False
        events = [event for event in events if event.seq > self._fetched]
        if events:
            self._cache = (self._cache + events)[-CACHE_SIZE:]
            self._fetched = events[-1].seq
            self._hinted = max(self._hinted, self._fetched)


#: writes bytes to a stream's client; False when the client is gone or too slow to keep
Sink = Callable[[bytes], bool]


class Subscription:
    """A stream's interest in a job: `wait()` returns when the job may have new events.

    While its stream is parked in `wait()` with a sink, new events do not wake it: `wake()`
    writes them straight to the client's transport (each event's chunk encoded once for all
    streams), so a burst of one event to 10,000 streams is 10,000 writes, not 10,000 task
    switches. The stream wakes only to end: the terminal event went out, or the client was
    dropped for not reading (see `stream.py`), or the events are no longer in the cache.
    """

    def __init__(self, topic: Topic) -> None:
        self.topic = topic
        self.closed = False
        #: the client stopped reading or went away while parked: the stream ends
        self.dropped = False
        #: the terminal event went out while parked: the stream ends
        self.sent_terminal = False
        self._woken = asyncio.Event()
        self._sink: Sink | None = None
        self._sent = 0

    def wake(self) -> None:
        if self._sink is not None and not self._woken.is_set() and self._push(self._sink):
            return
        self._woken.set()

    def _push(self, sink: Sink) -> bool:
        """Write the events after `_sent` through `sink`; True if the stream stays parked."""
        events = self.topic.cached_after(self._sent)
        if events is None:
            return False  # not all in the cache: the stream reads them itself
        if not events:
            return not self.topic.behind  # a failed read: the stream asks for itself
        data = events[0].chunk if len(events) == 1 else b"".join(e.chunk for e in events)
        if not sink(data):
            self.dropped = True
            return False
        self._sent = events[-1].seq
        self.sent_terminal = events[-1].terminal
        return not self.sent_terminal

    def close(self) -> None:
        self.closed = True
        self._woken.set()

    async def wait(self, sent: int, sink: Sink | None = None) -> int:
        """Park until woken, with events after `sent` written through `sink` meanwhile
        (when given); returns the newest seq the client has been sent."""
        self._sent, self._sink = sent, sink
        try:
            await self._woken.wait()
        finally:
            self._sink = None
        self._woken.clear()
        return self._sent

    async def events_after(self, seq: int) -> list[Event]:
        return await self.topic.events_after(seq)


class Listener:
    def __init__(
        self,
        dsn: str,
        store: EventLog,
        *,
        sweep_interval: float = 1.0,
        on_queued: Callable[[], None] | None = None,
        on_schedules: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._store = store
        self._sweep_interval = sweep_interval
        self._on_queued = on_queued
        #: the scheduler's wake (worker replicas): a schedule changed
        self._on_schedules = on_schedules
        self.topics: dict[uuid.UUID, Topic] = {}
        self._hinted: dict[uuid.UUID, Topic] = {}  # topics to read rows for, in one statement
        self._hint_arrived = asyncio.Event()
        self._conn: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()  # one command at a time on the connection
        self._listening: set[uuid.UUID] = set()  # jobs whose channel the connection LISTENs on
        self._owners: dict[str, int] = {}  # open streams by caller
        self._lost = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._closing = False

    @property
    def channel_count(self) -> int:
        """Job channels this replica LISTENs on (returns to 0 when no stream is open)."""
        return len(self.topics)

    @property
    def stream_count(self) -> int:
        return sum(len(topic.subscriptions) for topic in self.topics.values())

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._stay_connected(), name="listener"),
            asyncio.create_task(self._sweep_forever(), name="listener-sweep"),
            asyncio.create_task(self._read_forever(), name="listener-read"),
        ]

    def shutdown(self) -> None:
        """Tell every open stream to end (on_shutdown): aiohttp would wait for them."""
        self._closing = True
        for topic in self.topics.values():
            for subscription in topic.subscriptions:
                subscription.close()

    async def close(self) -> None:
        self.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), timeout=2)

    def streams_of(self, owner: str) -> int:
        """Open streams of one caller (`sub`) on this replica: the per-caller cap counts them."""
        return self._owners.get(owner, 0)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, job_id: uuid.UUID, seq: int, owner: str = ""
    ) -> AsyncIterator[Subscription]:
        """Follow a job whose events up to `seq` exist: `seq` comes from a row the caller
        read (never from a client), so a replay can start at once from the table.

        The caller reads the job before subscribing (a random id costs no LISTEN); an event
        committed between that read and our LISTEN is found by one probe right after it.
        """
        topic = self.topics.get(job_id)
        new = topic is None
        if topic is None:
            topic = self.topics[job_id] = Topic(job_id, self._store, self._hint)
            topic.start_at(seq)
        else:
            topic.hint(seq)
        subscription = Subscription(topic)
        if self._closing:
            subscription.close()
        topic.subscriptions.add(subscription)
        self._owners[owner] = self._owners.get(owner, 0) + 1
        try:
            if new:
                await self._sync_channel(job_id)
                topic.probe()
            yield subscription
        finally:
            self._owners[owner] -= 1
            if not self._owners[owner]:
                del self._owners[owner]
            topic.subscriptions.discard(subscription)
            if not topic.subscriptions and self.topics.get(job_id) is topic:
                del self.topics[job_id]
                await asyncio.shield(self._sync_channel(job_id))

    async def sweep(self) -> None:
        """Hint every listened job with its newest seq from the table."""
        if not self.topics:
            return
        seqs = await self._store.event_seqs(list(self.topics))
        for job_id, seq in seqs.items():
            topic = self.topics.get(job_id)
            if topic is not None:
                topic.hint(seq)

    def _hint(self, topic: Topic) -> None:
        self._hinted[topic.job_id] = topic
        self._hint_arrived.set()

    async def _read_forever(self) -> None:
        """Read the new rows of every hinted job in one statement, then wake their streams.

        Under load many jobs are hinted between two reads, so a replica's fan-out costs a few
        statements a second instead of one per job and event. If the read fails, the streams
        are woken anyway and read for themselves (retrying while the database is away).
        """
        while True:
            await self._hint_arrived.wait()
            self._hint_arrived.clear()
            topics, self._hinted = self._hinted, {}
            behind = {job_id: topic.fetched for job_id, topic in topics.items() if topic.behind}
            try:
                found = await self._store.events_after_many(behind) if behind else {}
            except Exception as exc:  # the fan-out must outlive any one failed read
                log.warning("fan_out_read_failed", error=str(exc) or type(exc).__name__)
                found = {}
            if found or not behind:
                for job_id in behind:
                    topics[job_id].remember(found.get(job_id, []))
            for topic in topics.values():
                topic.wake()

    async def _sync_channel(self, job_id: uuid.UUID) -> None:
        """LISTEN or UNLISTEN the job's channel so that it matches whether a topic wants it
        now. Deciding under the lock from the current state (not from what the caller wanted
        when it queued up) means a quick reconnect cannot leave a wanted channel unlistened."""
        async with self._lock:
            want = job_id in self.topics
            if want == (job_id in self._listening):
                return
            if self._conn is None or self._conn.is_closed():
                return  # the reconnect LISTENs on every topic's channel
            with contextlib.suppress(*DB_ERRORS):
                if want:
                    await self._conn.add_listener(channel(job_id), self._notified)
                    self._listening.add(job_id)
                else:
                    self._listening.discard(job_id)
                    await self._conn.remove_listener(channel(job_id), self._notified)

    def _notified(self, conn: object, pid: int, name: str, payload: object) -> None:
        if name == QUEUED_CHANNEL:
            if self._on_queued is not None:
                self._on_queued()
            return
        if name == SCHEDULES_CHANNEL:
            if self._on_schedules is not None:
                self._on_schedules()
            return
        job_id, _, seq = str(payload).partition(":")
        try:
            topic = self.topics.get(uuid.UUID(job_id))
            if topic is not None:
                topic.hint(int(seq))
        except ValueError:
            log.warning("bad_notification", channel=name, payload=payload)

    async def _stay_connected(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                delay = 0.1
                await self._until_lost()
            except DB_ERRORS as exc:
                log.warning("listener_connection_lost", error=str(exc), retry_in=delay)
            self.connected.clear()
            if self._conn is not None:
                self._conn.terminate()
                self._conn = None
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _until_lost(self, check_every: float = 5.0) -> None:
        """Return when the connection is gone; a silent network fault is found by a ping."""
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(check_every):
                    await self._lost.wait()
                    return
            async with self._lock:
                assert self._conn is not None
                await self._conn.fetchval("SELECT 1", timeout=check_every)

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await connect(self._dsn)
        conn.add_termination_listener(lambda _: self._lost.set())
        async with self._lock:
            self._conn = conn
            self._listening = set(self.topics)
            names = [channel(job_id) for job_id in self._listening]
            if self._on_queued is not None:
                names.append(QUEUED_CHANNEL)
            if self._on_schedules is not None:
                names.append(SCHEDULES_CHANNEL)
            for name in names:
                await conn.add_listener(name, self._notified)
        self.connected.set()
        log.info("listener_connected", channels=len(names), reconnects=self.reconnects)
        # Whatever was committed while we were away: catch every stream up.
        await self.sweep()
        if self._on_queued is not None:
            self._on_queued()
        if self._on_schedules is not None:
            self._on_schedules()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except DB_ERRORS as exc:
                log.warning("sweep_failed", error=str(exc))
