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
import math
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import asyncpg
import structlog

from service.db.pool import DB_ERRORS, connect
from service.db.ports import EventLog
from service.domain.jobs import QUEUED_CHANNEL, Event, channel
from service.domain.schedules import SCHEDULES_CHANNEL

log = structlog.get_logger(__name__)

#: events a topic keeps in memory for streams that are a little behind
CACHE_SIZE = 128
#: the longest period of the listener's ticker (heartbeats, tokens' expiry), in seconds
MAX_TICK_SECONDS = 1.0


def _seq(event: Event) -> int:
    return event.seq


class Topic:
    """One job's events as this replica knows them, shared by the job's streams."""

    def __init__(
        self,
        job_id: uuid.UUID,
        store: EventLog,
        on_hint: Callable[[Topic], None],
        phase: int = 0,
    ) -> None:
        self.job_id = job_id
        #: the tick of the listener's heartbeat cycle at which its streams are looked at
        self.phase = phase
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
        """New events for every stream: what a parked stream needs (the chunks of the events
        after the last it was sent) is built once for all the streams sent up to the same
        event, normally every stream of the job."""
        needs: dict[int, Pending] = {}
        for subscription in self.subscriptions:
            subscription.wake(needs)

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

    def pending_after(self, seq: int) -> Pending:
        """The chunks of the cached events after `seq`, the newest one's seq and whether it is
        terminal; None when some of them are not in the cache."""
        events = self.cached_after(seq)
        if events is None:
            return None
        if not events:
            return b"", seq, False
        data = events[0].chunk if len(events) == 1 else b"".join(e.chunk for e in events)
        return data, events[-1].seq, events[-1].terminal

    def remember(self, events: list[Event]) -> None:
        """Add rows read after `fetched` (whoever read them: rows already cached are skipped)."""
        self._probe = False
        events = [event for event in events if event.seq > self._fetched]
        if events:
            self._cache = (self._cache + events)[-CACHE_SIZE:]
            self._fetched = events[-1].seq
            self._hinted = max(self._hinted, self._fetched)


#: what a parked stream is to be sent: (the chunks, the newest seq, whether it is terminal);
#: None when the events are not all cached (the stream reads them itself)
Pending = tuple[bytes, int, bool] | None


class Sink(Protocol):
    """Where a stream's bytes go straight to its client (see `service.api.stream`)."""

    def write(self, data: bytes) -> bool:
        """Write `data` (whole events, as `Event.chunk`); False when the client is gone or
        too slow to keep, and the stream must end."""

    def ping(self) -> bool:
        """Write a heartbeat comment; False as above."""


class Subscription:
    """A stream's interest in a job: `wait()` returns when the stream has something to do.

    While its stream is parked in `wait()`, new events do not wake it: `wake()` writes them
    straight to the client through its sink (each event's chunk encoded once for all
    streams), so a burst of one event to 10,000 streams is 10,000 writes, not 10,000 task
    switches. The stream wakes only to end (the terminal event went out, its client was
    dropped for not reading, its token expired, the replica is shutting down), when the
    events are no longer in the cache, or, without a sink, for a heartbeat.

    An open stream holds one of these for its whole life, so it is kept small: slots, no
    asyncio.Event (a deque each), a future only while parked, and the heartbeat and the
    token's expiry driven by the listener's one ticker instead of a task and a timer per
    stream (BENCHMARKS.md, "Fan-out: the burst and the memory per stream").
    """

    __slots__ = (
        "_sent",
        "_waiter",
        "_woken",
        "closed",
        "dropped",
        "expires_at",
        "owner",
        "ping_due",
        "sent_terminal",
        "sink",
        "topic",
        "wrote",
    )

    def __init__(self, topic: Topic, owner: str, expires_at: float) -> None:
        self.topic = topic
        self.owner = owner
        #: the caller's token expires then (epoch seconds): the listener's ticker ends it
        self.expires_at = expires_at
        #: set by the stream once its headers are out; None: every byte goes through its task
        self.sink: Sink | None = None
        self.closed = False
        #: the client stopped reading or went away while parked: the stream ends
        self.dropped = False
        #: the terminal event went out while parked: the stream ends
        self.sent_terminal = False
        #: a stream without a sink is woken to write a heartbeat itself
        self.ping_due = False
        #: the client was written to since the heartbeat last looked (the stream sets it too)
        self.wrote = True
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._sent = 0

    @property
    def parked(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def wake(self, needs: dict[int, Pending] | None = None) -> None:
        """New events: pushed if the stream is parked with a sink, else the stream is roused.
        `needs` keeps what was built for other streams of the topic (see `Topic.wake`)."""
        if self.sink is not None and self.parked and self._push(self.sink, needs):
            return
        self._rouse()

    def _rouse(self) -> None:
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _push(self, sink: Sink, needs: dict[int, Pending] | None) -> bool:
        """Write the events after `_sent` through `sink`; True if the stream stays parked."""
        sent = self._sent
        if needs is not None and sent in needs:
            pending = needs[sent]
        else:
            pending = self.topic.pending_after(sent)
            if needs is not None:
                needs[sent] = pending
        if pending is None:
            return False  # not all in the cache: the stream reads them itself
        data, newest, terminal = pending
        if not data:
            return not self.topic.behind  # a failed read: the stream asks for itself
        if not sink.write(data):
            self.dropped = True
            return False
        self.wrote = True
        self._sent = newest
        self.sent_terminal = terminal
        return not terminal

    def heartbeat(self) -> None:
        """Keep an idle connection alive: through the sink at once (a comment between two
        whole chunks, whatever the stream is doing), or by waking a parked stream that has
        no sink to write it."""
        self.wrote = True
        if self.sink is not None:
            if not self.sink.ping():
                self.dropped = True
                self._rouse()
        elif self.parked:
            self.ping_due = True
            self._rouse()

    def close(self) -> None:
        self.closed = True
        self._rouse()

    def wait(self, sent: int) -> asyncio.Future[None]:
        """Park until woken, with events after `sent` pushed through the sink meanwhile;
        then `resume()` says the newest seq the client has been sent.

        A future, not a coroutine: a parked stream's frames are memory held for its whole
        life, and this saves one."""
        self._sent = sent
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        if self._woken:
            waiter.set_result(None)
        return waiter

    def resume(self) -> int:
        self._waiter = None
        self._woken = False
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
        heartbeat_seconds: float = 15.0,
        on_queued: Callable[[], None] | None = None,
        on_schedules: Callable[[], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._store = store
        self._sweep_interval = sweep_interval
        #: the ticker's period: how late an expired token is seen
        self._tick_seconds = min(MAX_TICK_SECONDS, heartbeat_seconds / 2)
        #: each topic's streams are looked at once per this many ticks (its `phase`), so that
        #: a stream is never quiet for longer than the heartbeat interval (two looks)
        self._phases = max(1, math.floor(heartbeat_seconds / (2 * self._tick_seconds)))
        self._ticks = 0
        self._topics_made = 0
        #: the soonest a subscribed token expires
        self._next_expiry = math.inf
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
            asyncio.create_task(self._tick_forever(), name="listener-tick"),
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

    async def subscribe(
        self,
        job_id: uuid.UUID,
        seq: int,
        owner: str = "",
        *,
        expires_at: float = math.inf,
    ) -> Subscription:
        """Follow a job whose events up to `seq` exist: `seq` comes from a row the caller
        read (never from a client), so a replay can start at once from the table. The
        caller must `unsubscribe()` (in a `finally`); the subscription ends by itself at
        `expires_at`, when the caller's token expires.

        The caller reads the job before subscribing (a random id costs no LISTEN); an event
        committed between that read and our LISTEN is found by one probe right after it.
        """
        topic = self.topics.get(job_id)
        new = topic is None
        if topic is None:
            self._topics_made += 1
            phase = self._topics_made % self._phases
            topic = self.topics[job_id] = Topic(job_id, self._store, self._hint, phase)
            topic.start_at(seq)
        else:
            topic.hint(seq)
        subscription = Subscription(topic, owner, expires_at)
        self._next_expiry = min(self._next_expiry, expires_at)
        if self._closing:
            subscription.close()
        topic.subscriptions.add(subscription)
        self._owners[owner] = self._owners.get(owner, 0) + 1
        if new:
            try:
                await self._sync_channel(job_id)
            except BaseException:
                await self.unsubscribe(subscription)
                raise
            topic.probe()
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        """The stream has ended: forget it, and UNLISTEN when it was its job's last."""
        subscription.sink = None
        topic, owner = subscription.topic, subscription.owner
        if subscription not in topic.subscriptions:
            return  # already
        topic.subscriptions.discard(subscription)
        self._owners[owner] -= 1
        if not self._owners[owner]:
            del self._owners[owner]
        job_id = topic.job_id
        if not topic.subscriptions and self.topics.get(job_id) is topic:
            del self.topics[job_id]
            await asyncio.shield(self._sync_channel(job_id))

    def tick(self, now: float) -> None:
        """One beat of the ticker: the streams of one phase's topics get a heartbeat when
        nothing was written to them since they were last looked at, and when a token is due
        to expire, the streams whose token has expired end.

        No timer and no task per stream, and each tick looks at a slice of the streams (a
        seventh, with the default 15 s heartbeat and a tick a second), so the heartbeats of
        streams opened together are spread out; a stream with traffic gets no heartbeat."""
        phase = self._ticks % self._phases
        self._ticks += 1
        expiring = now >= self._next_expiry
        if expiring:
            self._next_expiry = math.inf
        for topic in self.topics.values():
            beat = topic.phase == phase
            if not (beat or expiring):
                continue
            for subscription in topic.subscriptions:
                if subscription.closed:
                    continue
                if expiring:
                    if now >= subscription.expires_at:
                        subscription.close()
                        continue
                    self._next_expiry = min(self._next_expiry, subscription.expires_at)
                if not beat:
                    continue
                if subscription.wrote:
                    subscription.wrote = False
                else:
                    subscription.heartbeat()

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

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            try:
                self.tick(time.time())
            except Exception:  # the streams' heartbeats must outlive any one failure
                log.exception("listener_tick_failed")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self.sweep()
            except DB_ERRORS as exc:
                log.warning("sweep_failed", error=str(exc))
