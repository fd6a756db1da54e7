"""Kolada v3-compatible read API over the published vintages (the public door).

Only ``releases/`` is ever read here — never restricted storage. Vintages are immutable, so each
period file is parsed once and kept in memory (indexed by KPI, municipality and period), each entry is
encoded as JSON once, and each finished answer is kept as bytes under the vintage's manifest sha256 + URL
(``answers.py``): a repeated question is a lookup on the event loop. ``benchmarks/api_load.py`` measures it.

Paths and answers follow Kolada v3 so existing clients
(koladapy, R's rKolada, people's scripts) work by changing the base URL:

* ``/v3/kpi[/{ids}]``, ``/v3/municipality[/{ids}]`` (``title``, ``region_type``/``type`` = K|L),
* ``/v3/data/kpi/{k}/year/{y}``, ``/v3/data/kpi/{k}/municipality/{m}[/year/{y}]``,
  ``/v3/data/municipality/{m}/year/{y}``, ``/v3/data/kpi/{k}`` and ``/v3/data/?kpi_id=&municipality_id=&year=``.

Also Kolada's helper entities: ``/v3/municipality_groups[/{ids}]`` (Kolada's own group ids, titles
and members, e.g. "Liknande kommuner IFO"), ``/v3/kpi_groups[/{ids}]`` (one group with our KPIs),
``/v3/ou`` and ``/v3/oudata/...`` (we have no organisational units: well-formed empty answers, not
404) and ``/v3/openapi.json``. A group id may stand in the municipality segment of a data path, as in
Kolada (``/v3/data/kpi/SUKF02/municipality/G36453,0180/year/2025``): its value is the unweighted mean
of the members' published values and ``count`` the number of members with a value. Groups appear only
when asked for by id (a query without municipalities answers municipalities, län and Riket).

Extension for quarterly figures (Kolada itself is yearly): a "year" may be written as a quarter,
``/v3/data/kpi/SUKF01/year/2025Q3`` (mixing ``2025,2025Q3`` is fine). Without any year the answer
holds yearly values only, like Kolada; ``period_type=quarter|all`` widens it.

Pagination is Kolada's: ``per_page`` (1–5000, default 5000), 1-based ``page``, ``count`` = number of
values in this answer (Kolada documents count as the length of ``values``), absolute
``next_url``/``previous_url`` (null at the ends). At most 25 ids per path segment; a year segment may
hold up to 100 years, because pykolada asks for 55 years in one segment by default.
``from_date=YYYY-MM-DD`` is Kolada's change feed: only values that were published, revised or
withdrawn in a vintage created on or after that date; a withdrawn value comes with
``isdeleted: true``. Every answer is from the current vintage unless ``?release=vNNN`` (or header
``X-SUKF-Release``) or ``?as_of=YYYY-MM-DD`` (the vintage current at that date) asks for another.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from pipeline.contract import kpis as catalogue
from pipeline.contract.dictionary import counties, municipalities
from pipeline.contract.municipality_groups import municipality_groups, similar_group_of, skr_group_of
from pipeline.contract.periods import PERIOD_PATTERN, YEAR_PATTERN
from pipeline.contract.table_design import published_by_gender
from pipeline.release import notes, publish
from pipeline.release.cells import published_cells
from pipeline.services import tables
from pipeline.services.answers import AnswerCache
from pipeline.services.group_values import group_entries
from pipeline.settings import Paths

log = logging.getLogger("sukf.api")
MAX_PER_PAGE = 5000
CACHED_RELEASES = 4  # assembled vintages kept in memory (least recently used dropped first)
CACHED_PERIODS = 256  # parsed period files (shared between vintages) kept in memory
MAX_IDS = 25
MAX_YEARS = 100
_ID = re.compile(r"^[A-Za-z0-9_]{1,20}$")
_PERIOD = re.compile(f"^(?:{PERIOD_PATTERN})$")
_FILE = re.compile(r"^(?:data/)?[A-Za-z0-9_.-]{1,64}$")
_WEB = Path(__file__).with_name("web")
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "upload.js": "text/javascript"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status)


@dataclass
class LoadedRelease:
    """One vintage held in memory: metadata lists, every data entry (parsed and pre-serialised), indexes
    by KPI, municipality and period, and — worked out on the first change-feed question — when each value
    last changed."""

    vintage: str
    created: str
    kpis: list[dict]
    municipalities: list[dict]
    data: list[dict]  # yearly entries first, then quarterly; each Kolada-shaped
    raw: list[bytes | None] = field(default_factory=list)  # data[i] as JSON, encoded once (see entry_json)
    sha: str = ""  # sha256 of manifest.json: names this exact content (the answer cache's key)
    periods: dict[str, str] = field(default_factory=dict)  # manifest: period -> "final" | "preliminary"
    by_kpi: dict[str, list[int]] = field(default_factory=dict)
    by_municipality: dict[str, list[int]] = field(default_factory=dict)
    by_period: dict[int | str, list[int]] = field(default_factory=dict)
    history: Callable[[], tuple[dict, dict]] | None = None  # -> (changed, withdrawn), see below
    _history: tuple[dict, dict] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def created_date(self) -> date:
        return date.fromisoformat(self.created[:10]) if self.created else date.min

    def entry_json(self, i: int) -> bytes:
        """``data[i]`` as JSON bytes, encoded on first use: loading a vintage is parsing only, and each
        answer pays for encoding just the entries it holds, once."""
        encoded = self.raw[i]
        if encoded is None:
            encoded = self.raw[i] = orjson.dumps(self.data[i])
        return encoded

    def _changes(self) -> tuple[dict, dict]:
        # Only the from_date feed needs this, and it means reading every earlier vintage's changes.csv:
        # done by preload() before the port opens, and for a vintage published while serving on first use
        # (not on the way to the first data answer of the new vintage).
        if self._history is None:
            with self._lock:
                if self._history is None:
                    self._history = self.history() if self.history else ({}, {})
        return self._history

    @property
    def changed(self) -> dict[tuple, str]:
        """(kpi, muni, period, gender) -> created of the vintage that last changed that value."""
        return self._changes()[0]

    @property
    def withdrawn(self) -> dict[tuple, str]:
        """Keys whose last change was a withdrawal -> created of that vintage."""
        return self._changes()[1]


def _values(doc) -> list[dict]:
    """kpi.json etc. may be a bare list or Kolada's {"values": [...]} envelope."""
    return doc.get("values", []) if isinstance(doc, dict) else list(doc or [])


class ReleaseStore:
    """Finds vintages through ``releases/index.json`` and caches the parsed ones.

    Unchanged periods share one file between vintages, so parsed period files are cached by their
    sha256 (from the manifest): assembling a new vintage re-reads only what changed.
    """

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.root = paths.releases.resolve()
        self._cache: OrderedDict[str, LoadedRelease] = OrderedDict()
        self._periods: OrderedDict[str, list[dict]] = OrderedDict()
        self._changes: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._index: list[dict] = []
        self._index_key: tuple[int, int, int] | None = None

    def index(self) -> list[dict]:
        """The vintage index, re-read only when the file changed (the publisher replaces it atomically, so a
        new vintage is a new inode): every request asks, and must not parse the file each time."""
        try:
            stat = (self.paths.releases / publish.INDEX).stat()
        except FileNotFoundError:
            return []
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self._index_key:
            self._index, self._index_key = publish.list_vintages(self.paths), key
        return self._index

    def index_key(self) -> tuple[int, int, int] | None:
        """Identity of the index file as last read (changes with every new vintage)."""
        self.index()
        return self._index_key

    def folder(self, vintage: str, entries: list[dict] | None = None) -> Path:
        """The vintage folder, refusing anything that is not a listed vintage (no traversal)."""
        if not publish.VINTAGE.match(vintage or ""):
            raise ApiError(400, "Ogiltig årgång: använd vNNN, t.ex. v003.")
        if not any(e["vintage"] == vintage for e in (self.index() if entries is None else entries)):
            raise ApiError(404, f"Årgången {vintage} finns inte.")
        return self.root / vintage

    def entry(self, spec: str | None, as_of: str | None = None) -> dict:
        entries = self.index()
        if not entries:
            raise ApiError(404, "Ingen årgång är publicerad än.")
        if spec and spec != "latest":
            self.folder(spec, entries)  # one look at the index per question: a stat() is not free under load
        if as_of:
            try:
                earlier = publish.created_by(entries, as_of)
            except ValueError:
                raise ApiError(400, "as_of ska vara ÅÅÅÅ-MM-DD eller en ISO-tidpunkt.") from None
        if spec and spec != "latest":
            return next(e for e in entries if e["vintage"] == spec)
        if as_of:
            if not earlier:
                raise ApiError(404, f"Ingen årgång var publicerad {as_of}.")
            return earlier[-1]
        return entries[-1]

    def get(self, spec: str | None, as_of: str | None = None) -> LoadedRelease:
        entry = self.entry(spec, as_of)
        key = entry["vintage"]
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
            else:
                self._cache[key] = self._load(entry)
                while len(self._cache) > CACHED_RELEASES:  # old vintages on demand must not pile up
                    self._cache.popitem(last=False)
                # A vintage is ~10^5 long-lived objects: keep the collector from walking them again and
                # again (a full collection under load is a pause for every request in the process).
                gc.freeze()
            return self._cache[key]

    def loaded(self, spec: str | None, as_of: str | None = None) -> LoadedRelease | None:
        """The vintage asked for if it is already in memory, else None. Never parses a vintage (at most it
        stats the small index file and re-reads it when a new vintage was announced), so the event loop
        may call it: an answer-cache hit must not wait for a load."""
        try:
            key = self.entry(spec, as_of)["vintage"]
        except ApiError:
            return None
        return self._cache.get(key)

    def _period(self, folder: Path, name: str, sha: str) -> list[dict]:
        if sha not in self._periods:
            self._periods[sha] = _values(orjson.loads((folder / name).read_bytes()))
            while len(self._periods) > CACHED_PERIODS:
                self._periods.popitem(last=False)
        self._periods.move_to_end(sha)
        return self._periods[sha]

    def _load(self, entry: dict) -> LoadedRelease:
        folder = self.root / entry["vintage"]  # a listed vintage (entry comes from the index)
        manifest_bytes = (folder / publish.MANIFEST).read_bytes()
        manifest = orjson.loads(manifest_bytes)

        def read(name: str):
            file = folder / name
            return orjson.loads(file.read_bytes()) if file.is_file() else []

        names = sorted(n for n in manifest["files"] if n.startswith(publish.DATA_DIR + "/") and n.endswith(".json"))
        years = [n for n in names if "Q" not in n]
        quarters = [n for n in names if "Q" in n]
        data = [item for n in years + quarters for item in self._period(folder, n, manifest["files"][n]["sha256"])]
        earlier = list(self.index())
        upto = next((i for i, e in enumerate(earlier) if e["vintage"] == entry["vintage"]), len(earlier) - 1)
        release = LoadedRelease(entry["vintage"], str(entry.get("created") or manifest.get("created", "")),
                                _values(read(publish.KPI_FILE)), _values(read(publish.MUNICIPALITY_FILE)), data,
                                [None] * len(data),
                                sha=hashlib.sha256(manifest_bytes).hexdigest(),
                                periods=dict(manifest.get("periods") or {}),
                                history=lambda: self._history_of(earlier[:upto + 1]))
        for i, item in enumerate(data):
            release.by_kpi.setdefault(item["kpi"], []).append(i)
            release.by_municipality.setdefault(item["municipality"], []).append(i)
            release.by_period.setdefault(item["period"], []).append(i)
        return release

    def _history_of(self, entries: list[dict]) -> tuple[dict, dict]:
        """(changed, withdrawn) after the vintages ``entries`` (oldest first): when each value last changed."""
        changed: dict[tuple, str] = {}
        withdrawn: dict[tuple, str] = {}
        for earlier in entries:
            for row in self._vintage_changes(earlier["vintage"]):
                key = (row["kpi"], row["municipality"], row["period"], row["gender"])
                changed[key] = earlier["created"]
                if row["change"] == "withdrawn":
                    withdrawn[key] = earlier["created"]
                else:
                    withdrawn.pop(key, None)
        return changed, withdrawn

    def _vintage_changes(self, vintage: str) -> list[dict]:
        if vintage not in self._changes:
            file = self.root / vintage / publish.CHANGES
            self._changes[vintage] = notes.read_changes(file.read_bytes()) if file.is_file() else []
        return self._changes[vintage]

    def preload(self) -> None:
        """Parse the current vintage and encode its entries now. ``sukf serve`` calls this at startup, before
        the port opens (uvicorn runs the lifespan first), so neither the first request after a start nor
        the first seconds of traffic pay for it (the change feed's history included). A missing or broken
        release is logged, not fatal: the API then answers what it can (404 until something is published)."""
        start = time.perf_counter()
        try:
            release = self.get(None)
            for i in range(len(release.data)):
                release.entry_json(i)
            release.changed  # noqa: B018 — the from_date feed's history: every earlier changes.csv, read now
        except (ApiError, OSError, ValueError) as exc:
            log.warning("read API: no vintage preloaded (%s)", getattr(exc, "message", type(exc).__name__))
            return
        municipality_groups(), similar_group_of(), skr_group_of(), openapi_document()  # parsed once, now
        log.info("read API: vintage %s (%d entries) loaded in %.2f s", release.vintage, len(release.data),
                 time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# parameter parsing


def _ids(segment: str | list[str] | None, limit: int = MAX_IDS) -> list[str] | None:
    """Comma-separated (or repeated) ids; None when absent. 400 for more than ``limit`` or odd characters."""
    if segment is None:
        return None
    parts = segment if isinstance(segment, list) else [segment]
    ids = [i.strip() for p in parts for i in p.split(",") if i.strip()]
    if not ids:
        return None
    if len(ids) > limit:
        raise ApiError(400, f"Högst {limit} id:n per led (fick {len(ids)}).")
    if not all(_ID.match(i) for i in ids):
        raise ApiError(400, "Ogiltigt id.")
    return ids


def _periods(segment: str | list[str] | None) -> set[int | str] | None:
    ids = _ids(segment, MAX_YEARS)
    if ids is None:
        return None
    out: set[int | str] = set()
    for text in ids:
        if not _PERIOD.match(text.upper()):
            raise ApiError(400, f"Ogiltig period {text!r}: ange år (2025) eller kvartal (2025Q3).")
        out.add(int(text) if re.fullmatch(YEAR_PATTERN, text) else text.upper())
    return out


def _paging(request: Request) -> tuple[int, int]:
    try:
        page = int(request.query_params.get("page", 1))
        per_page = int(request.query_params.get("per_page", MAX_PER_PAGE))
    except ValueError:
        raise ApiError(400, "page och per_page måste vara heltal.") from None
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ApiError(400, f"page ≥ 1 och 1 ≤ per_page ≤ {MAX_PER_PAGE}.")
    return page, per_page


def _paginate(request: Request, items: list, release: LoadedRelease | None = None) -> Response:
    """Kolada's envelope around one page of ``items``. An int item is the index of a data entry of
    ``release`` (encoded once), anything else is encoded here; the bytes are those of
    ``{"values": [...], "count": n, "next_url": ..., "previous_url": ...}``."""
    page, per_page = _paging(request)
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    next_url = (str(request.url.include_query_params(page=page + 1, per_page=per_page))
                if start + per_page < len(items) else None)
    previous_url = (str(request.url.include_query_params(page=page - 1, per_page=per_page))
                    if page > 1 and items else None)
    values = b",".join(release.entry_json(x) if type(x) is int else orjson.dumps(x) for x in chunk)
    body = b"".join((b'{"values":[', values, b'],"count":', str(len(chunk)).encode(), b',"next_url":',
                     orjson.dumps(next_url), b',"previous_url":', orjson.dumps(previous_url), b"}"))
    return Response(body, media_type="application/json")


def _region_type(request: Request) -> str | None:
    raw = (request.query_params.get("region_type") or request.query_params.get("type") or "").strip().upper()
    mapping = {"K": "K", "L": "L", "MUNICIPALITY": "K", "REGION": "L", "": None}
    if raw not in mapping:
        raise ApiError(400, "region_type ska vara K eller L.")
    return mapping[raw]


def release_label(release: LoadedRelease) -> str:
    """How the page and downloads name the release (vintage) they show, and the ``release`` argument of
    ``published_cells`` for it — the one place that knows how a loaded release is named."""
    return release.vintage


def _release_spec(request: Request) -> tuple[str | None, str | None]:
    """(release, as_of) asked for: ``?release=vNNN`` (or header X-SUKF-Release), ``?as_of=DATE``."""
    spec = request.query_params.get("release") or request.headers.get("x-sukf-release")
    return spec, request.query_params.get("as_of")


def _release(request: Request, store: ReleaseStore) -> LoadedRelease:
    """The vintage asked for (see _release_spec), else the current one."""
    return store.get(*_release_spec(request))


# ---------------------------------------------------------------------------------------------
# views


def _candidates(release: LoadedRelease, *, kpis: list[str] | None, munis: list[str] | None,
                periods: set | None) -> list[int]:
    """Indexes (in release order) of the entries that may match: the shortest of the KPI, municipality
    and period index lists asked for, so no question walks the whole vintage."""
    lists = []
    for wanted, index in ((kpis, release.by_kpi), (munis, release.by_municipality), (periods, release.by_period)):
        if wanted is not None:
            parts = [index.get(w, []) for w in dict.fromkeys(wanted)]
            lists.append(parts[0] if len(parts) == 1 else sorted(i for part in parts for i in part))
    return min(lists, key=len) if lists else list(range(len(release.data)))


def _select_data(release: LoadedRelease, request: Request, *, kpis: list[str] | None,
                 munis: list[str] | None, periods: set | None) -> list[int | dict]:
    """The matching entries: an int is ``release.data[i]`` unchanged (``release.entry_json(i)``),
    a dict an entry cut down to the values the change feed asked for, or a withdrawal."""
    if kpis is None and munis is None and periods is None:
        raise ApiError(400, "Ange minst ett av kpi, municipality eller year.")
    from_date = request.query_params.get("from_date")
    since: str | None = None
    if from_date:
        try:
            since = date.fromisoformat(from_date).isoformat()
        except ValueError:
            raise ApiError(400, "from_date ska vara ÅÅÅÅ-MM-DD.") from None
    period_type = request.query_params.get("period_type", "year")
    wanted_types = {"year": {int}, "quarter": {str}, "all": {int, str}}.get(period_type)
    if wanted_types is None:
        raise ApiError(400, "period_type ska vara year, quarter eller all.")
    region = _region_type(request)
    types = {m["id"]: m.get("type") for m in release.municipalities} if region else {}
    muni_set = set(munis) if munis is not None else None
    kpi_set = set(kpis) if kpis is not None else None
    out: list[int | dict] = []
    for i in _candidates(release, kpis=kpis, munis=munis, periods=periods):
        item = release.data[i]
        if muni_set is not None and item["municipality"] not in muni_set:
            continue
        if periods is not None:
            if item["period"] not in periods:
                continue
        elif type(item["period"]) not in wanted_types:
            continue
        if region and types.get(item["municipality"]) != region:
            continue
        if kpi_set is not None and item["kpi"] not in kpi_set:
            continue
        if since is not None:
            changed = _changed_since(release, item, since)
            if changed is None:
                continue
            if changed is not item:
                out.append(changed)
                continue
        out.append(i)
    if since is not None:
        out += _withdrawn_since(release, since, kpis=kpis, munis=muni_set, periods=periods, wanted_types=wanted_types)
    return out


def _changed_since(release: LoadedRelease, item: dict, since: str) -> dict | None:
    """The entry with only the values that changed in a vintage created on or after ``since``."""
    key = (item["kpi"], item["municipality"], str(item["period"]))
    values = [v for v in item["values"] if release.changed.get((*key, v["gender"]), "")[:10] >= since
              and (*key, v["gender"]) not in release.withdrawn]  # those come as isdeleted entries
    if not values:
        return None
    return item if len(values) == len(item["values"]) else {**item, "values": values}


def _withdrawn_since(release: LoadedRelease, since: str, *, kpis, munis, periods, wanted_types) -> list[dict]:
    """Values withdrawn since ``since``, as Kolada's change feed shows them: ``isdeleted: true``."""
    grouped: dict[tuple, list[dict]] = {}
    for (kpi, muni, period, gender), created in sorted(release.withdrawn.items()):
        value = int(period) if "Q" not in period else period
        if created[:10] < since or (kpis is not None and kpi not in kpis) or (munis is not None and muni not in munis):
            continue
        if (periods is not None and value not in periods) or (periods is None and type(value) not in wanted_types):
            continue
        grouped.setdefault((kpi, muni, value), []).append(
            {"gender": gender, "count": 0, "status": "", "value": None, "isdeleted": True})
    return [{"kpi": k, "municipality": m, "period": p, "values": v} for (k, m, p), v in grouped.items()]


def api_routes(paths: Paths, store: ReleaseStore | None = None, answers: AnswerCache | None = None) -> list[Route]:
    store = store or ReleaseStore(paths)
    answers = answers if answers is not None else AnswerCache()

    def endpoint(func, scope: str = "release"):
        """One route. ``scope`` says what its answer is a function of, besides the URL: ``release`` — the
        vintage asked for (``func(request, release)``); ``index`` — the list of vintages; ``code`` —
        nothing that changes while the process runs.

        A repeated question is answered from ``answers`` on the event loop; anything else — reading a
        vintage, filtering, encoding — runs in the thread pool, so it never blocks the loop and with it
        every other request (uploads included). Measured (benchmarks/api_load.py): computing the small
        questions on the loop instead saves ~10 % CPU but gave worse tails (p99 115–330 ms against
        95–171 ms at 200 req/s on the shared machine), so every computation stays in the pool."""
        def key(request: Request, release: LoadedRelease | None) -> tuple | None:
            if scope == "release":
                return None if release is None else (release.sha, str(request.url))
            if scope == "index":
                return (store.index_key(), str(request.url))
            return ("code", str(request.url))

        def compute(request: Request) -> Response:
            try:
                if scope != "release":
                    k = key(request, None)
                    response = func(request)
                else:
                    release = _release(request, store)
                    k = key(request, release)
                    response = func(request, release)
            except ApiError as err:
                return err.response()
            if k is not None:
                answers.put(k, response)
            return response

        async def handler(request: Request) -> Response:
            known = store.loaded(*_release_spec(request)) if scope == "release" else None
            k = key(request, known) if scope != "release" or known is not None else None
            hit = answers.get(k) if k is not None else None
            if hit is not None:
                return hit.response()
            return await run_in_threadpool(compute, request)
        return handler

    def kpi(request: Request, release: LoadedRelease) -> Response:
        ids = _ids(request.path_params.get("ids"))
        items = [k for k in release.kpis if ids is None or k["id"] in ids]
        title = request.query_params.get("title")
        if title:
            items = [k for k in items if title.lower() in str(k.get("title", "")).lower()]
        return _paginate(request, items)

    def municipality(request: Request, release: LoadedRelease) -> Response:
        ids = _ids(request.path_params.get("ids"))
        region = _region_type(request)
        title = (request.query_params.get("title") or "").lower()
        items = [m for m in release.municipalities if (ids is None or m["id"] in ids)
                 and (region is None or m.get("type") == region) and title in str(m.get("title", "")).lower()]
        return _paginate(request, items)

    def data(request: Request, release: LoadedRelease) -> Response:
        p, q = request.path_params, request.query_params
        kpis = _ids(p.get("kpi") or q.getlist("kpi_id") or None)
        munis = _ids(p.get("municipality") or q.getlist("municipality_id") or None)
        periods = _periods(p.get("year") or q.getlist("year") or None)
        groups = [m for m in munis or [] if m in municipality_groups()]
        plain = None if munis is None else [m for m in munis if m not in groups]
        items = _select_data(release, request, kpis=kpis, munis=plain, periods=periods)
        for gid in groups:
            group = municipality_groups()[gid]
            members = _select_data(release, request, kpis=kpis, munis=list(group.member_ids), periods=periods)
            items += group_entries(group, (release.data[x] if type(x) is int else x for x in members))
        return _paginate(request, items, release)

    def municipality_group(request: Request) -> Response:
        ids = _ids(request.path_params.get("ids"))
        title = (request.query_params.get("title") or "").lower()
        items = [g.kolada() for g in municipality_groups().values()
                 if (ids is None or g.id in ids) and title in g.title.lower()]
        return _paginate(request, items)

    def kpi_group(request: Request, release: LoadedRelease) -> Response:
        """One group holding every KPI of the release (Kolada's kpi_groups shape)."""
        ids = _ids(request.path_params.get("ids"))
        title = (request.query_params.get("title") or "").lower()
        group = {"id": catalogue.KPI_GROUP_ID, "title": catalogue.KPI_GROUP_TITLE,
                 "members": [{"member_id": k["id"], "member_title": k["title"]} for k in release.kpis]}
        keep = (ids is None or group["id"] in ids) and title in group["title"].lower()
        return _paginate(request, [group] if keep else [])

    def organisational_units(request: Request) -> Response:
        """We publish no organisational units: Kolada's empty answer, after checking the parameters."""
        _ids(request.path_params.get("ids"))
        for name in ("kpi", "ou"):
            _ids(request.path_params.get(name) or request.query_params.getlist(f"{name}_id") or None)
        _periods(request.path_params.get("year") or request.query_params.getlist("year") or None)
        return _paginate(request, [])

    def kpi_meta(request: Request) -> Response:
        """Not part of Kolada: each KPI's unit, numerator, denominator and reading advice (for the page)."""
        return JSONResponse({"kpis": {k.id: {"unit": k.unit.value, "unit_label": k.unit_label,
                                             "numerator": k.numerator_text, "denominator": k.denominator_text,
                                             "reading": k.reading, "divided_by_gender": published_by_gender(k.id)}
                                      for k in catalogue.KPIS},
                             "footnotes": [{"sign": sign, "text": text} for sign, text in tables.FOOTNOTES]})

    def releases(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        out = []
        for e in store.index():
            files = publish.release_files(publish.read_manifest(store.folder(e["vintage"])))
            out.append({**e, "files": {f: f"{base}/releases/{e['vintage']}/{f}" for f in files}})
        return JSONResponse({"vintages": out})

    def release_file(request: Request) -> Response:
        vintage, name = request.path_params["vintage"], request.path_params["file"]
        folder = store.folder(vintage)
        if not _FILE.match(name) or name not in publish.release_files(publish.read_manifest(folder)):
            raise ApiError(404, "Okänd fil.")
        file = folder / name
        if not file.is_file():
            raise ApiError(404, "Filen finns inte i årgången.")
        media = {"json": "application/json", "csv": "text/csv; charset=utf-8", "md": "text/markdown; charset=utf-8",
                 "xml": "application/xml"}[name.rsplit(".", 1)[1]]
        filename, immutable = name.replace("/", "_"), {"Cache-Control": "public, max-age=31536000, immutable"}
        if file.stat().st_size > answers.max_answer_bytes:  # too big to keep: streamed from disk each time
            return FileResponse(file, media_type=media, filename=filename, headers=immutable)
        # Published files never change: read once, then replayed from the answer cache.
        return Response(file.read_bytes(), media_type=media,
                        headers={**immutable, "Content-Disposition": f'attachment; filename="{filename}"'})

    def counties_meta(request: Request) -> Response:
        """Not part of Kolada: which län each kommun belongs to (for the comparison page)."""
        groups = municipality_groups()
        skr = skr_group_of()
        return JSONResponse({"municipality_county": {m.kod: m.lan_id for m in municipalities()},
                             "counties": counties(),
                             "similar_group": similar_group_of(), "skr_group": skr,
                             "skr_groups": {g: groups[g].title for g in sorted(set(skr.values()))}})

    status_cache: OrderedDict[str, dict[str, str]] = OrderedDict()

    def period_status(release: LoadedRelease) -> dict[str, str]:
        """Period -> "final" | "preliminary" (the Kolada shape has no such flag): the manifest's list, which
        the publisher writes from the same closed years as each value's flag; read from the cells only for
        a vintage whose manifest has none."""
        if release.periods:
            return release.periods
        key = release_label(release)
        if key not in status_cache:
            cells = published_cells(paths, key)
            prel = cells.groupby("period", sort=True)["preliminary"].any() if len(cells) else {}
            status_cache[key] = {str(p): ("preliminary" if bool(v) else "final") for p, v in dict(prel).items()}
            while len(status_cache) > CACHED_RELEASES:
                status_cache.popitem(last=False)
        return status_cache[key]

    def release_meta(request: Request, release: LoadedRelease) -> Response:
        """Not part of Kolada: which release the page shows and which periods are preliminary."""
        return JSONResponse({"release": release_label(release), "created": release.created,
                             "periods": period_status(release)})

    def download(request: Request, release: LoadedRelease) -> Response:
        """Ranking or time series as CSV or Excel, with KPI, period, unit, release and footnotes inside."""
        table_name, fmt = request.path_params["table"], request.path_params["fmt"]
        q = request.query_params
        kpi_id = (_ids(q.get("kpi")) or [""])[0]
        gender = q.get("gender", "T")
        if gender not in ("T", "K", "M") or fmt not in ("csv", "xlsx") or table_name not in ("ranking", "series"):
            raise ApiError(400, "Ogiltig tabell, kön eller format.")
        try:
            if table_name == "ranking":
                periods = _periods(q.get("period"))
                if not periods or len(periods) != 1:
                    raise ApiError(400, "Ange en period, t.ex. period=2024.")
                period = next(iter(periods))
                table = tables.ranking_table(release, kpi_id, period, gender, release_label=release_label(release),
                                             status=period_status(release).get(str(period), "preliminary"))
            else:
                municipality = (_ids(q.get("municipality")) or [""])[0]
                if municipality not in {m.kod for m in municipalities()}:
                    raise ApiError(400, "Ange en kommun, t.ex. municipality=0180.")
                period_type = q.get("period_type", "year")
                if period_type not in ("year", "quarter"):
                    raise ApiError(400, "period_type ska vara year eller quarter.")
                table = tables.series_table(release, kpi_id, municipality, period_type, gender,
                                            statuses=period_status(release), release_label=release_label(release))
        except KeyError:
            raise ApiError(404, "Nyckeltalet finns inte i releasen.") from None
        body = tables.csv_bytes(table) if fmt == "csv" else tables.xlsx_bytes(table)
        media = ("text/csv; charset=utf-8" if fmt == "csv"
                 else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        name = f"{table_name}_{kpi_id}.{fmt}"
        return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    def index_page(request: Request) -> Response:
        return Response((_WEB / "index.html").read_bytes(), media_type="text/html")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise ApiError(404, "Okänd fil.")
        return Response((_WEB / name).read_bytes(), media_type=STATIC_FILES[name])

    e = endpoint
    data_paths = ["/v3/data/kpi/{kpi}", "/v3/data/kpi/{kpi}/year/{year}",
                  "/v3/data/kpi/{kpi}/municipality/{municipality}",
                  "/v3/data/kpi/{kpi}/municipality/{municipality}/year/{year}",
                  "/v3/data/municipality/{municipality}/year/{year}", "/v3/data", "/v3/data/"]
    ou_paths = ["/v3/ou", "/v3/ou/", "/v3/ou/{ids}", "/v3/oudata", "/v3/oudata/", "/v3/oudata/kpi/{kpi}",
                "/v3/oudata/kpi/{kpi}/year/{year}", "/v3/oudata/kpi/{kpi}/ou/{ou}",
                "/v3/oudata/kpi/{kpi}/ou/{ou}/year/{year}", "/v3/oudata/ou/{ou}/year/{year}"]
    return [
        Route("/v3/kpi", e(kpi)), Route("/v3/kpi/", e(kpi)),
        Route("/v3/kpi/{ids}", e(kpi)),
        Route("/v3/municipality", e(municipality)), Route("/v3/municipality/", e(municipality)),
        Route("/v3/municipality/{ids}", e(municipality)),
        *[Route(path, e(data)) for path in data_paths],
        Route("/v3/municipality_groups", e(municipality_group, "code")),
        Route("/v3/municipality_groups/", e(municipality_group, "code")),
        Route("/v3/municipality_groups/{ids}", e(municipality_group, "code")),
        Route("/v3/kpi_groups", e(kpi_group)), Route("/v3/kpi_groups/", e(kpi_group)),
        Route("/v3/kpi_groups/{ids}", e(kpi_group)),
        *[Route(path, e(organisational_units, "code")) for path in ou_paths],
        Route("/v3/openapi.json", e(openapi, "code")),
        Route("/meta/kpis.json", e(kpi_meta, "code")),
        Route("/meta/release.json", e(release_meta)),
        Route("/download/{table}.{fmt}", e(download)),
        Route("/releases", e(releases, "index")),
        Route("/releases/{vintage}/{file:path}", e(release_file, "index")),
        Route("/meta/counties.json", e(counties_meta, "code")),
        Route("/openapi.json", e(openapi, "code")),
        Route("/", e(index_page, "code")),
        Route("/static/{name}", e(static, "code")),
    ]


@cache
def openapi_document() -> dict:
    """Hand-written OpenAPI 3 description of the read API and the upload service."""
    def params(*names: str) -> list[dict]:
        spec = {
            "page": ("query", {"type": "integer", "minimum": 1, "default": 1}),
            "per_page": ("query", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": MAX_PER_PAGE}),
            "release": ("query", {"type": "string", "example": "v003", "description": "a vintage; default current"}),
            "as_of": ("query", {"type": "string", "format": "date",
                                "description": "the vintage that was current at this date (or ISO time)"}),
            "title": ("query", {"type": "string"}),
            "region_type": ("query", {"type": "string", "enum": ["K", "L"]}),
            "from_date": ("query", {"type": "string", "format": "date"}),
            "period_type": ("query", {"type": "string", "enum": ["year", "quarter", "all"]}),
            "ids": ("path", {"type": "string", "description": "up to 25 comma-separated ids"}),
            "kpi": ("path", {"type": "string", "description": "up to 25 comma-separated KPI ids"}),
            "municipality": ("path", {"type": "string", "description": "up to 25 comma-separated ids; a Kolada "
                                      "group id (G…) gives the unweighted mean of its members"}),
            "ou": ("path", {"type": "string", "description": "organisational unit ids"}),
            "year": ("path", {"type": "string", "description": "years (2025) and/or quarters (2025Q3), up to 100"}),
            "kpi_id": ("query", {"type": "string"}), "municipality_id": ("query", {"type": "string"}),
            "year_q": ("query", {"type": "string"}),
            "vintage": ("path", {"type": "string", "example": "v003"}),
            "file": ("path", {"type": "string", "description": "a file listed in the vintage's manifest"}),
            "submission_id": ("path", {"type": "string"}),
        }
        out = []
        for name in names:
            where, schema = spec[name]
            out.append({"name": "year" if name == "year_q" else name, "in": where, "required": where == "path",
                        "schema": schema})
        return out

    paged = {"200": {"description": "Kolada v3 envelope",
                     "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}},
             "400": {"description": "bad parameter"}, "404": {"description": "no such release"}}
    common = ("page", "per_page", "release", "as_of")
    data_q = (*common, "from_date", "region_type", "period_type")

    def get(summary: str, *names: str, responses=None) -> dict:
        return {"get": {"summary": summary, "parameters": params(*names), "responses": responses or paged}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "SU-kvinnofrid – nyckeltal (Kolada v3-kompatibelt)", "version": "1.0"},
        "paths": {
            "/v3/kpi": get("KPI metadata", *common, "title"),
            "/v3/kpi/{ids}": get("KPI metadata by id", "ids", *common),
            "/v3/municipality": get("Municipalities, län and Riket", *common, "title", "region_type"),
            "/v3/municipality/{ids}": get("Municipalities by id", "ids", *common),
            "/v3/data/": get("Data by query parameters", "kpi_id", "municipality_id", "year_q", *data_q),
            "/v3/data/kpi/{kpi}": get("Data for KPIs, all municipalities and years", "kpi", *data_q),
            "/v3/data/kpi/{kpi}/year/{year}": get("Data for KPIs and periods", "kpi", "year", *data_q),
            "/v3/data/kpi/{kpi}/municipality/{municipality}": get("Data for KPIs and municipalities", "kpi",
                                                                  "municipality", *data_q),
            "/v3/data/kpi/{kpi}/municipality/{municipality}/year/{year}": get(
                "Data for KPIs, municipalities and periods", "kpi", "municipality", "year", *data_q),
            "/v3/data/municipality/{municipality}/year/{year}": get("All KPIs for municipalities and periods",
                                                                     "municipality", "year", *data_q),
            "/v3/municipality_groups": get("Kolada's municipality groups (ids, titles, members)", *common, "title"),
            "/v3/municipality_groups/{ids}": get("Municipality groups by id", "ids", *common),
            "/v3/kpi_groups": get("KPI groups (one group with the SU-kvinnofrid KPIs)", *common, "title"),
            "/v3/kpi_groups/{ids}": get("KPI groups by id", "ids", *common),
            "/v3/ou": get("Organisational units (none are published: always empty)", *common, "title"),
            "/v3/ou/{ids}": get("Organisational units by id (always empty)", "ids", *common),
            "/v3/oudata/kpi/{kpi}/ou/{ou}/year/{year}": get("Data for organisational units (always empty)",
                                                             "kpi", "ou", "year", *common),
            "/v3/oudata/kpi/{kpi}/year/{year}": get("Data for organisational units (always empty)", "kpi",
                                                     "year", *common),
            "/v3/openapi.json": get("This document", responses={"200": {"description": "OpenAPI 3"}}),
            "/download/{table}.{fmt}": {"get": {
                "summary": "The comparison page's ranking or time series as CSV or Excel, with KPI, period, unit, "
                           "release and footnotes inside",
                "parameters": [
                    {"name": "table", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": ["ranking", "series"]}},
                    {"name": "fmt", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": ["csv", "xlsx"]}},
                    {"name": "kpi", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "period", "in": "query", "schema": {"type": "string", "example": "2024"}},
                    {"name": "municipality", "in": "query", "schema": {"type": "string", "example": "0180"}},
                    {"name": "period_type", "in": "query", "schema": {"type": "string", "enum": ["year", "quarter"]}},
                    {"name": "gender", "in": "query", "schema": {"type": "string", "enum": ["T", "K", "M"]}},
                    *params("release")],
                "responses": {"200": {"description": "the file"}, "400": {"description": "bad parameter"},
                              "404": {"description": "no such KPI"}}}},
            "/meta/release.json": get("Not Kolada: release shown and each period's status (final/preliminary)",
                                      "release", responses={"200": {"description": "JSON"}}),
            "/releases": get("Published vintages", responses={"200": {"description": "list of vintages"}}),
            "/releases/{vintage}/{file}": get(
                "Download one file of a vintage", "vintage", "file",
                responses={"200": {"description": "the file"}, "404": {"description": "unknown"}}),
            "/api/v1/submissions": {
                "post": {"summary": "Upload a quarterly file (Bearer token; raw body + X-Filename, or multipart)",
                         "security": [{"bearer": []}],
                         "parameters": [{"name": "period", "in": "query", "schema": {"type": "string"}}],
                         "requestBody": {"content": {"application/octet-stream": {}, "multipart/form-data": {}}},
                         "responses": {s: {"description": d} for s, d in (
                             ("201", "receipt; bytes are on disk"), ("401", "bad token"),
                             ("403", "other municipality"), ("413", "too large"), ("415", "not CSV/XLSX"),
                             ("422", "unreadable, zip bomb or personnummer"), ("429", "rate limited"))}},
                "get": {"summary": "Own submissions", "security": [{"bearer": []}],
                        "responses": {"200": {"description": "list"}}},
            },
            "/api/v1/submissions/{submission_id}": get("Submission status", "submission_id",
                                                      responses={"200": {"description": "status"}}),
            "/api/v1/submissions/{submission_id}/report.json": get(
                "Validation report (404 until ready)", "submission_id", responses={"200": {"description": "JSON"}}),
            "/api/v1/submissions/{submission_id}/report.html": get(
                "Validation report (404 until ready)", "submission_id", responses={"200": {"description": "HTML"}}),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Page": {"type": "object", "properties": {
                "values": {"type": "array", "items": {"type": "object"}}, "count": {"type": "integer"},
                "next_url": {"type": "string", "nullable": True}, "previous_url": {"type": "string", "nullable": True},
            }}},
        },
    }
