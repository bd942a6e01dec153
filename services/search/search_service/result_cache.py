"""Search results remembered per request, valid until the part of the read model they show changes.

Why: the read model changes only when a product or stock event is applied, while the shared
database commits all the time (orders, carts, other services' outboxes). A cache that asks Postgres
"has anything committed?" (the earlier `pg_current_snapshot()` probe) is evicted by every unrelated
commit and pays a round trip even on a hit. So validity is tied to the read model's own writes, and
(because a selling shop writes stock several times per order) to what each write can change:

- Every row written to `search_product` may run `pg_notify('search_read_model_changed', payload)`
  (a row trigger, migration 0003, so no writer can forget it: the event handlers, a bulk load, a
  manual fix; TRUNCATE has a statement trigger). The payload is a product id when only that
  product's `available` changed and its `in_stock` did not, '' when anything else a search can
  show or filter by changed; writes of nothing visible (a reservation's commit moves `on_hand` and
  `reserved`, not `available`) send nothing. `search_facet_count` is written only by that table's
  row trigger, in the same transaction. Postgres delivers notifications at commit, never before,
  and to every listener, including this replica's own (its listener is a separate connection).
- Why a product id can retire only the entries whose page holds it: totals, facets, the fuzzy
  fallback (taken when full text finds nothing), order and membership depend on stock only
  through `in_stock` (a filter and a facet count key; no sort key or score reads stock), and a
  change of `in_stock` sends ''. What `available` alone changes is the figure shown on the item.
- Each process holds one LISTEN connection (`change_feed.ReadModelChangeFeed`) that reports every
  notification to the in-process `Generation`, which counts them, keeps the last few, and tells
  the cache at once: '' empties it, a product id drops the entries showing that product. So an
  entry still in the cache is current as of the last notification heard.
- A search reads the generation *before* its statement ran and stores its result only if no change
  heard since then could affect it ('' or its page's products; or too many changes to tell). A
  search that overlaps a commit is thus never stored after the commit is heard, and the commit
  has already dropped whatever it had to when the search is stored before it is heard.
- Without a working LISTEN connection (not yet connected, dropped, failing its keep-alive probe)
  the generation is unknown (`None`): nothing is served or stored. Losing and regaining the
  connection count as '' changes, so nothing computed before the gap is served after it.

What it does not promise: a hit may lag a commit by the notification's delivery time (about a
millisecond locally), as if the search had run just before the commit. Per process, bounded,
least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from uuid import UUID

import msgspec

from search_service.schemas import SearchCriteria, SearchResults

_key_encoder = msgspec.json.Encoder(order="deterministic")
# Changes a finishing search can still check itself against: a search takes milliseconds, so this
# covers seconds even at thousands of stock changes a second; beyond it a result is not stored.
RECENT_CHANGES = 1024


def changed_product(payload: str) -> UUID | None:
    """What a notification's payload says changed: one product's `available` figure, or (None) anything.
    A payload that is not a product id means anything, so nothing unexpected is ever under-evicted."""
    try:
        return UUID(payload) if payload else None
    except ValueError:
        return None


class Generation:
    """How many changes of the read model this process has heard of, `None` while it cannot hear, and
    the recent ones: each either one product's `available` (its id) or anything (None)."""

    def __init__(self, recent: int = RECENT_CHANGES) -> None:
        self._counter = 0
        self._known = False
        self._recent: deque[tuple[int, UUID | None]] = deque(maxlen=recent)
        self._watchers: list[Callable[[UUID | None], None]] = []

    @property
    def current(self) -> int | None:
        return self._counter if self._known else None

    def watch(self, watcher: Callable[[UUID | None], None]) -> None:
        """Call `watcher` with every change as it is heard."""
        self._watchers.append(watcher)

    def changed(self, product_id: UUID | None = None) -> None:
        """A change committed: only `product_id`'s `available`, or anything. Never makes an unknown
        generation known: a notification's callback may run after its connection was reported lost."""
        self._counter += 1
        self._recent.append((self._counter, product_id))
        for watcher in self._watchers:
            watcher(product_id)

    def listening(self) -> None:
        """The LISTEN connection is up (again): changes from now on will be heard."""
        self._known = True
        self.changed()

    def deaf(self) -> None:
        """The LISTEN connection is gone: changes may be missed, so stop trusting any entry."""
        self._known = False
        self.changed()

    def changed_since(self, generation: int, product_ids: Collection[UUID]) -> bool:
        """Whether a change heard after `generation` may affect a result whose page shows
        `product_ids`; True too when that is further back than the recent changes kept."""
        if generation == self._counter:
            return False
        if not self._recent or self._recent[0][0] > generation + 1:
            return True
        for number, product_id in reversed(self._recent):
            if number <= generation:
                return False
            if product_id is None or product_id in product_ids:
                return True
        return False


@dataclass(frozen=True, slots=True)
class CachedResults:
    results: SearchResults
    product_ids: frozenset[UUID]


class ResultCache:
    """Least-recently-used map from a search's criteria to its results, with the entries showing
    each product, so that a change of one product's `available` drops only those."""

    def __init__(self, capacity: int, generation: Generation | None = None) -> None:
        self.capacity = capacity
        self.generation = generation or Generation()
        self._entries: OrderedDict[bytes, CachedResults] = OrderedDict()
        self._showing: dict[UUID, set[bytes]] = {}
        self.generation.watch(self._heard)

    @staticmethod
    def key(criteria: SearchCriteria) -> bytes:
        return _key_encoder.encode(criteria)

    def get(self, key: bytes, generation: int | None) -> SearchResults | None:
        """The results stored under `key`, unless the generation (the current one) is unknown.
        Every stored entry is current: changes drop what they affect as they are heard."""
        if generation is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.results

    def put(self, key: bytes, generation: int | None, results: SearchResults) -> None:
        """Remember `results`, computed by a statement that started under `generation`, unless a
        change heard since then may have made them stale."""
        if self.capacity <= 0 or generation is None:
            return
        product_ids = frozenset(item.product_id for item in results.items)
        if self.generation.changed_since(generation, product_ids):
            return
        self._drop(key)
        self._entries[key] = CachedResults(results, product_ids)
        for product_id in product_ids:
            self._showing.setdefault(product_id, set()).add(key)
        while len(self._entries) > self.capacity:
            self._drop(next(iter(self._entries)))

    def _heard(self, product_id: UUID | None) -> None:
        if product_id is None:
            self._entries.clear()
            self._showing.clear()
            return
        for key in list(self._showing.get(product_id, ())):
            self._drop(key)

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for product_id in entry.product_ids:
            keys = self._showing[product_id]
            keys.discard(key)
            if not keys:
                del self._showing[product_id]

    def __len__(self) -> int:
        return len(self._entries)
