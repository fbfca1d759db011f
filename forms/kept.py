"""A bounded, thread-safe store of values computed from bytes an earlier document had too
(least recently used dropped first): pdfminer's parses (``forms.strict_reading``), pyHanko's
canonical texts (``verify.known_objects``) and appearance drawings (``verify.appearance``)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable, Iterator


class Kept:
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value kept under ``key``, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[Hashable]:
        """The keys now kept (a snapshot)."""
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
