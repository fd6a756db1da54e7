"""Finished answers of the read API, kept as bytes and replayed: the API's pre-serialised store.

WHY: a published vintage never changes, so an answer is a pure function of (the vintage's content, the
request URL). Computed and serialised once, a repeated question then costs a dictionary lookup on the
event loop — no thread hop, no filtering, no JSON encoding. The key starts with the sha256 of the vintage's
manifest (which names every file's sha256), so an answer can only be replayed for exactly the content it
was computed from: a new vintage has a new key and is never answered from an older one's entries, and
``?release=`` / ``?as_of=`` resolve to their vintage's key before the lookup.

Bounded by bytes (least recently used dropped first), so arbitrary query strings cannot grow memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from starlette.responses import Response

MAX_BYTES = 128 * 1024 * 1024  # whole cache
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # larger answers are computed each time, never kept


@dataclass(frozen=True)
class Answer:
    """A complete 200 response: status, headers (content-type, content-length, ...) and body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Answer:
        return cls(response.status_code, tuple(response.raw_headers), bytes(response.body))

    def response(self) -> Response:
        out = Response(self.body, status_code=self.status)
        out.raw_headers = list(self.headers)  # a fresh list: middleware (CORS) edits headers in place
        return out


class AnswerCache:
    """Thread-safe LRU of answers by key, bounded by the bytes of their bodies."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.max_bytes, self.max_answer_bytes = max_bytes, max_answer_bytes
        self._items: OrderedDict[Hashable, Answer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Answer | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is not None:
                self._items.move_to_end(key)
            return answer

    def put(self, key: Hashable, response: Response) -> None:
        """Keep ``response`` if it is a plain 200 answer with its body in memory (not a file or stream)."""
        body = getattr(response, "body", None)
        if response.status_code != 200 or not isinstance(body, bytes | memoryview) or len(body) > self.max_answer_bytes:
            return
        answer = Answer.of(response)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._items[key] = answer
            self._bytes += len(answer.body)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        return len(self._items)
