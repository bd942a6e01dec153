"""Search results remembered per request, valid until the search read model itself changes.

Why: the read model changes only when a product or stock event is applied, while the shared
database commits all the time (orders, carts, other services' outboxes). A cache that asks Postgres
"has anything committed?" (the earlier `pg_current_snapshot()` probe) is evicted by every unrelated
commit and pays a round trip even on a hit. So validity is tied to the read model's own writes:

- Every transaction that writes `search_product` runs `pg_notify('search_read_model_changed')`
  (a statement trigger, migration 0002, so no writer can forget it: the event handlers, a bulk
  load, a manual fix). `search_facet_count` is written only by that table's row trigger, in the
  same transaction. Postgres delivers the notification at commit, never before, and to every
  listener, including this replica's own (its listener is a separate connection).
- Each process holds one LISTEN connection (`change_feed.ReadModelChangeFeed`) that bumps the
  in-process `Generation` on every notification.
- An entry stores the generation read *before* its statement ran, and is served only while the
  generation is still that number. A search that overlaps a commit is stored under the old number,
  which the commit's notification retires, so it is never served after the change is known.
- Without a working LISTEN connection (not yet connected, dropped, failing its keep-alive probe)
  the generation is unknown (`None`): nothing is served or stored. Reconnecting bumps it, so
  nothing computed before the gap is served after it.

What it does not promise: a hit may lag a commit by the notification's delivery time (about a
millisecond locally), as if the search had run just before the commit. Per process, bounded,
least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from search_service.schemas import SearchCriteria, SearchResults

_key_encoder = msgspec.json.Encoder(order="deterministic")


class Generation:
    """How many changes of the read model this process has heard of; `None` while it cannot hear."""

    def __init__(self) -> None:
        self._counter = 0
        self._known = False

    @property
    def current(self) -> int | None:
        return self._counter if self._known else None

    def changed(self) -> None:
        """A change committed. Never makes an unknown generation known: a notification's callback
        may run after its connection was already reported lost."""
        self._counter += 1

    def listening(self) -> None:
        """The LISTEN connection is up (again): changes from now on will be heard."""
        self._counter += 1
        self._known = True

    def deaf(self) -> None:
        """The LISTEN connection is gone: changes may be missed, so stop trusting any entry."""
        self._counter += 1
        self._known = False


@dataclass(frozen=True, slots=True)
class CachedResults:
    generation: int
    results: SearchResults


class ResultCache:
    """Least-recently-used map from a search's criteria to its results and their generation."""

    def __init__(self, capacity: int, generation: Generation | None = None) -> None:
        self.capacity = capacity
        self.generation = generation or Generation()
        self._entries: OrderedDict[bytes, CachedResults] = OrderedDict()

    @staticmethod
    def key(criteria: SearchCriteria) -> bytes:
        return _key_encoder.encode(criteria)

    def get(self, key: bytes, generation: int | None) -> SearchResults | None:
        """The results stored under `key` if they were computed under `generation` (the current
        one); an entry of an older generation is dropped."""
        if generation is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != generation:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.results

    def put(self, key: bytes, generation: int | None, results: SearchResults) -> None:
        """Remember `results`, computed by a statement that started under `generation`."""
        if self.capacity <= 0 or generation is None:
            return
        self._entries[key] = CachedResults(generation, results)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
