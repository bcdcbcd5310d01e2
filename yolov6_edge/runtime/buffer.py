"""A bounded buffer with one lane per producer: what sits between the stages of a stream.

Each lane holds at most `capacity` items, so a slow consumer never makes memory grow. What happens when a
producer finds its lane full is the lane's policy:

- "block": the producer waits (nothing is lost; a file is read as fast as the model takes it),
- "drop-oldest": the oldest waiting item is dropped and the new one queued (a camera: the model always sees
  the most recent frame),
- "drop-newest": the new item is dropped (what was queued keeps its place).

Dropped items are passed to `on_drop`, so the caller can say which frames were skipped. A consumer takes up
to n items at a time, round-robin over the lanes (several cameras share the model fairly).
"""
import collections
import threading

POLICIES = ("block", "drop-oldest", "drop-newest")


class Cancelled(Exception):
    """The buffer was cancelled while a producer or the consumer waited on it."""


class LaneBuffer:
    def __init__(self, lanes: int, capacity: int, policies, on_drop=None):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        policies = [policies] * lanes if isinstance(policies, str) else list(policies)
        for p in policies:
            if p not in POLICIES:
                raise ValueError(f"unknown policy {p!r} (expected one of {', '.join(POLICIES)})")
        self.capacity = capacity
        self.policies = policies
        self.on_drop = on_drop or (lambda lane, item: None)
        self._lanes = [collections.deque() for _ in range(lanes)]
        self._open = [True] * lanes
        self._cond = threading.Condition()
        self._cancelled = False
        self._next = 0  # lane the next take starts from (round-robin)
        self.high_water = 0  # most items one lane ever held (tests check the bound)

    def put(self, lane: int, item) -> bool:
        """Queue `item` on `lane`; False when it (or, for drop-oldest, an older item) was dropped instead."""
        dropped = None
        with self._cond:
            q = self._lanes[lane]
            policy = self.policies[lane]
            if policy == "block":
                while len(q) >= self.capacity and not self._cancelled:
                    self._cond.wait()
            if self._cancelled:
                raise Cancelled()
            if len(q) >= self.capacity:
                if policy == "drop-newest":
                    dropped = item
                else:
                    dropped = q.popleft()
                    q.append(item)
            else:
                q.append(item)
            self.high_water = max(self.high_water, len(q))
            self._cond.notify_all()
        if dropped is not None:
            self.on_drop(lane, dropped)
        return dropped is None

    def close(self, lane: int) -> None:
        """The producer of `lane` is done; the consumer still gets what is queued."""
        with self._cond:
            self._open[lane] = False
            self._cond.notify_all()

    def cancel(self) -> None:
        """Wake everyone waiting; further puts and takes raise Cancelled."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def take(self, n: int, fill: bool = False) -> list:
        """Up to n items, round-robin over the lanes; waits for at least one. [] once every lane is closed
        and empty. fill: wait until n items are there (or every lane has closed) instead of taking what is
        ready, for batches that should be full (files); live sources take what is ready, for latency."""
        with self._cond:
            while True:
                if self._cancelled:
                    raise Cancelled()
                ready = sum(len(q) for q in self._lanes)
                live = any(self._open)
                if ready >= n or (ready and not fill) or not live:
                    break
                self._cond.wait()
            out = []
            lanes = len(self._lanes)
            while len(out) < n and any(self._lanes):
                q = self._lanes[self._next]
                self._next = (self._next + 1) % lanes
                if q:
                    out.append(q.popleft())
            self._cond.notify_all()
            return out
