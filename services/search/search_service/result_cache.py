"""Search results remembered per request, served only while the database has not changed at all.

Each result is stored with the `pg_current_snapshot()` its statement ran under. Before serving it
again the service asks Postgres for the current snapshot (one tiny round trip): equal snapshots mean
no transaction has committed anywhere in the database since (a commit either leaves the in-progress
list or moves xmax), so the stored result is exactly what the statement would return now. Any
write, to this read model or anywhere else, simply makes entries miss; nothing can be stale.
Popular queries repeat (shoppers type the same few hundred words), so a quiet catalog answers them
without re-counting thousands of matches. Per process, bounded, least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import msgspec

from search_service.schemas import SearchCriteria, SearchResults

_key_encoder = msgspec.json.Encoder(order="deterministic")


@dataclass(frozen=True, slots=True)
class CachedResults:
    snapshot: str
    results: SearchResults


class ResultCache:
    """Least-recently-used map from a search's criteria to its results and their snapshot."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[bytes, CachedResults] = OrderedDict()

    @staticmethod
    def key(criteria: SearchCriteria) -> bytes:
        return _key_encoder.encode(criteria)

    def get(self, key: bytes) -> CachedResults | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, snapshot: str, results: SearchResults) -> None:
        if self.capacity <= 0:
            return
        self._entries[key] = CachedResults(snapshot, results)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
