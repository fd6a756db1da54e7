"""The municipal upload door: receive a file over HTTP, check it cheaply, archive it, send a receipt.

Order matters. Everything that can refuse a file (size, type, zip bomb, personnummer) runs
*before* ``ingest_bytes``, so a refused file leaves nothing in ``raw/`` or the register. The
receipt is sent only after ``ingest_bytes`` returned, i.e. after the bytes were fsynced. Full
validation (rules, GE suites) happens later in the quarterly pipeline, which writes the report.

Log lines carry ids, kommunkod, sizes and error codes — never file content, values or names.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from pipeline.contract.dictionary import BY_NAME, MAX_BYTES
from pipeline.contract.periods import FIRST_YEAR, LAST_YEAR, is_quarter
from pipeline.raw.ingest import ingest_bytes, safe_name
from pipeline.raw.register import Register, Submission
from pipeline.services.tokens import TokenInfo, TokenStore
from pipeline.settings import Paths
from pipeline.templating import render
from pipeline.validation.report import html_of_json, stored_json

log = logging.getLogger("sukf.upload")

API_PREFIX = "/api/v1"
_SUBMISSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SAFE_KOMMUNKOD = re.compile(r"[0-9]{4}")  # the only request field ever echoed back
_LOCAL_COLUMN = re.compile(r"lokal_[0-9]{2}")
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the small form fields around the file


class _NoQueryInAccessLog(logging.Filter):
    """uvicorn's access log writes the request line with its query string (``?kommunkod=…``), i.e.
    text a sender typed: keep the path, drop the query, so a server log never holds request fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


_ACCESS_FILTER = _NoQueryInAccessLog()


def quiet_access_log() -> None:
    """Install the filter once on uvicorn's access logger (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if _ACCESS_FILTER not in logger.filters:
        logger.addFilter(_ACCESS_FILTER)


class Refused(Exception):
    """A request we turn away; carries the HTTP status and a Swedish + English message."""

    def __init__(self, status: int, code: str, message_sv: str, message_en: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.status, self.code, self.message_sv, self.message_en = status, code, message_sv, message_en
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": self.code, "message": self.message_sv, "message_en": self.message_en}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass
class RateLimiter:
    """Sliding window per token: at most ``limit`` upload attempts per ``window`` seconds."""

    limit: int = 30
    window: float = 3600.0
    _hits: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, int(hits[0] + self.window - now) + 1)
                raise Refused(429, "rate_limited",
                              f"För många uppladdningar: högst {self.limit} per timme. Försök igen om {retry} s.",
                              f"Too many uploads; retry in {retry} s.", {"Retry-After": str(retry)})
            hits.append(now)


@dataclass
class UploadConfig:
    paths: Paths
    max_bytes: int = MAX_BYTES
    rate_limit: RateLimiter = field(default_factory=RateLimiter)
    # The no-JavaScript form carries its token inside the body, so the body is buffered before it
    # can be authenticated: bound how many such buffers (<= max_bytes each) exist at once.
    form_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))


# ---------------------------------------------------------------------------------------------
# checks that run before anything is written


def _authenticate(request: Request, config: UploadConfig, token: str | None = None) -> TokenInfo:
    if token is None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
    info = TokenStore(config.paths).verify(token)
    if info is None:
        raise Refused(401, "unauthorized", "Saknad, ogiltig eller spärrad nyckel.", "Missing or invalid token.",
                      {"WWW-Authenticate": "Bearer"})
    return info


def _too_large(config: UploadConfig) -> Refused:
    mb = config.max_bytes // (1024 * 1024)
    return Refused(413, "too_large", f"Filen är för stor: högst {mb} MB.", f"File larger than {mb} MB.")


async def _capped(stream: AsyncIterator[bytes], cap: int, config: UploadConfig) -> AsyncIterator[bytes]:
    """Pass the body through, stopping (413) as soon as more than ``cap`` bytes arrived."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > cap:
            raise _too_large(config)
        yield chunk


def _check_declared_length(request: Request, cap: int, config: UploadConfig) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise _too_large(config)


async def _read_body(request: Request, config: UploadConfig) -> tuple[bytes, dict[str, str]]:
    """(file bytes, form fields) from a raw body or a multipart form, never reading past the cap."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        cap = config.max_bytes + _MULTIPART_OVERHEAD
        _check_declared_length(request, cap, config)
        parser = MultiPartParser(request.headers, _capped(request.stream(), cap, config), max_files=1,
                                 max_fields=10)
        try:
            form = await parser.parse()
        except MultiPartException as exc:  # its text may quote the sender's field names: not echoed
            raise Refused(400, "bad_form", "Formuläret kunde inte läsas.", "The form could not be read.") from exc
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Refused(400, "no_file", "Ingen fil bifogad (fältet 'file').", "No file in field 'file'.")
        data = await upload.read()
        fields["filename"] = upload.filename or ""
        await upload.close()
        if len(data) > config.max_bytes:
            raise _too_large(config)
        return data, fields
    _check_declared_length(request, config.max_bytes, config)
    chunks = [c async for c in _capped(request.stream(), config.max_bytes, config)]
    return b"".join(chunks), {"filename": _header_filename(request)}


def _header_filename(request: Request) -> str:
    """The file name of a raw upload: RFC 6266/5987 ``Content-Disposition: …; filename*=UTF-8''…``
    first, then ``X-Filename`` (percent-decoded: HTTP headers cannot carry ``ö`` or ``–`` as such)."""
    disposition = request.headers.get("content-disposition", "")
    match = re.search(r"filename\*\s*=\s*([A-Za-z0-9_-]+)'[^']*'([^;\s]+)", disposition)
    if match:
        try:
            return unquote(match.group(2), encoding=match.group(1), errors="replace")
        except LookupError:
            return unquote(match.group(2), errors="replace")
    match = re.search(r'filename\s*=\s*"([^"]*)"', disposition)
    raw = match.group(1) if match else request.headers.get("x-filename", "")
    return unquote(raw, errors="replace")


_DOOR_STATUS = {"E_TOO_LARGE": 413, "E_NOT_CSV_XLSX": 415, "E_EMPTY_FILE": 400}


def _display_name(raw: str, data: bytes) -> str:
    """The sender's name as metadata only; made to end with the detected type so reading works.

    The type comes from ``filetype.sniff`` (the one decision all doors share); an unknown type
    keeps the name as it is, the door check refuses the file anyway.
    """
    from pipeline.submission.filetype import UnreadableFile, sniff

    name = safe_name(raw)
    try:
        kind = sniff(data)
    except UnreadableFile:
        return name
    return name if name.lower().endswith(f".{kind}") else f"{name}.{kind}"


def _check_content(data: bytes, name: str) -> None:
    """The shared door check (type, zip bomb, structure, every part scanned for personnummer).

    Runs the very function precheck and the pipeline run, so the verdict is the same at every door.
    Answers carry the rule code and this project's own words, with places (row, column, part),
    never a value.
    """
    from pipeline.validation.validate import door_check

    verdict = door_check(data, name)
    if not verdict.refused:
        return
    first = verdict.issues[0]
    if first.rule == "E_PERSONNUMMER" and first.row is None and first.column is None and len(verdict.issues) == 1:
        raise Refused(422, first.rule, f"{first.message_sv} Inget av filens innehåll har sparats.",
                      f"{first.message_en} Nothing was stored.")
    if first.rule == "E_PERSONNUMMER":
        where = _describe(verdict.issues)
        raise Refused(422, first.rule,
                      "Filen innehåller något som liknar personnummer och har inte tagits emot. Ta bort "
                      f"uppgifterna och skicka igen. Finns i: {where}. Inget av filens innehåll har sparats.",
                      f"The file contains personnummer-like values ({where}); nothing was stored.")
    raise Refused(_DOOR_STATUS.get(first.rule, 422), first.rule, first.message_sv, first.message_en)


def _describe(issues: list) -> str:
    """'kolumn x rad 2, 5, …' from the issues' positions — positions only, never values."""
    by_column: dict[str, list[str]] = defaultdict(list)
    for issue in issues:  # a column is named only when it is one of the contract's: headers are sender text
        known = issue.column in BY_NAME or bool(issue.column and _LOCAL_COLUMN.fullmatch(issue.column))
        by_column[issue.column if known else "utanför mallen"].append(
            str(issue.row) if issue.row else "1 (rubrikraden)")
    parts = []
    for column, rows in list(by_column.items())[:5]:
        shown = ", ".join(rows[:5]) + (" …" if len(rows) > 5 else "")
        parts.append(f"kolumn {column} rad {shown}")
    return "; ".join(parts) + (" …" if len(by_column) > 5 else "")


# ---------------------------------------------------------------------------------------------
# the shared receive path and the JSON views


def _receipt(sub: Submission, request: Request) -> dict:
    base = str(request.base_url).rstrip("/") + f"{API_PREFIX}/submissions/{sub.submission_id}"
    return {"submission_id": sub.submission_id, "sha256": sub.sha256, "version": sub.version,
            "kommunkod": sub.kommunkod, "period": sub.period, "status": sub.status,
            "received_at": sub.received_at, "size_bytes": sub.size_bytes,
            "n_errors": sub.n_errors, "n_warnings": sub.n_warnings,
            "report_url": f"{base}/report.html", "report_json_url": f"{base}/report.json"}


async def _receive(request: Request, config: UploadConfig, token: str | None = None,
                   info: TokenInfo | None = None) -> tuple[Submission, int]:
    """Authenticate (or take ``info`` from a portal session), check, archive. Returns (submission, 201).

    Raises Refused for any refusal."""
    info = info or _authenticate(request, config, token)
    config.rate_limit.check(info.token_id)
    data, fields = await _read_body(request, config)
    period = (fields.get("period") or request.query_params.get("period") or "").strip().upper()
    if not is_quarter(period):
        raise Refused(400, "bad_period",
                      f"Ange kvartal som ÅÅÅÅKn mellan {FIRST_YEAR}Q1 och {LAST_YEAR}Q4, t.ex. 2025Q3.",
                      "period must be YYYYQn within the supported years")
    claimed = (fields.get("kommunkod") or request.query_params.get("kommunkod") or "").strip()
    if claimed and claimed != info.kommunkod:
        # the claimed value is client text: never logged, echoed only when it is a plain kommunkod
        log.warning("token %s (kommun %s) tried to submit for another municipality", info.token_id, info.kommunkod)
        other = f" för {claimed}" if _SAFE_KOMMUNKOD.fullmatch(claimed) else " för en annan kommun"
        raise Refused(403, "wrong_municipality",
                      f"Nyckeln gäller kommun {info.kommunkod} och får inte lämna uppgifter{other}.",
                      "The token may only submit for its own municipality.")
    name = _display_name(fields.get("filename", ""), data)
    # Parsing, scanning and fsync are blocking: keep them off the event loop so other requests flow.
    await run_in_threadpool(_check_content, data, name)
    try:
        sub = await run_in_threadpool(lambda: ingest_bytes(data, original_name=name, period=period,
                                                           kommunkod=info.kommunkod, source="upload",
                                                           paths=config.paths))
    except OSError as exc:
        # Disk full or an I/O error: nothing was registered (the archive writes a temp file and renames,
        # the register row comes after). Tell the client to retry rather than that its file was refused.
        log.error("upload could not be stored: %s (errno %s)", type(exc).__name__, exc.errno)
        raise Refused(507, "storage_unavailable", "Servern kunde inte spara filen, försök igen om en stund.",
                      "The server could not store the file; try again later.", headers={"Retry-After": "30"}) \
            from None
    log.info("upload received: submission %s kommun %s %s version %s (%d bytes)", sub.submission_id,
             info.kommunkod, period, sub.version, len(data))
    return sub, 201


def _own_submission(request: Request, config: UploadConfig) -> Submission:
    info = _authenticate(request, config)
    submission_id = request.path_params["submission_id"]
    sub = Register(config.paths).get(submission_id) if _SUBMISSION_ID.match(submission_id) else None
    if sub is None:
        raise Refused(404, "not_found", "Ingen sådan inlämning.", "No such submission.")
    if sub.kommunkod != info.kommunkod:
        raise Refused(403, "forbidden", "Inlämningen tillhör en annan kommun.", "Another municipality's submission.")
    return sub


def upload_routes(config: UploadConfig) -> list[Route]:
    """Routes of the upload service (absolute paths, ready to combine with the read API)."""
    quiet_access_log()

    async def create(request: Request) -> Response:
        sub, status = await _receive(request, config)
        return JSONResponse(_receipt(sub, request), status_code=status)

    async def listing(request: Request) -> Response:
        info = _authenticate(request, config)
        period = request.query_params.get("period")
        subs = Register(config.paths).list(kommunkod=info.kommunkod, period=period.upper() if period else None)
        return JSONResponse({"submissions": [_receipt(s, request) for s in subs]})

    async def status(request: Request) -> Response:
        return JSONResponse(_receipt(_own_submission(request, config), request))

    def report(suffix: str, media_type: str):
        async def handler(request: Request) -> Response:
            sub = _own_submission(request, config)
            text = await run_in_threadpool(stored_json, config.paths, sub.submission_id)
            if text is None:
                return JSONResponse({"error": "not_ready", "status": sub.status,
                                     "message": "Rapporten är inte klar än: filen valideras vid nästa körning."},
                                    status_code=404)
            body = html_of_json(text) if suffix == "html" else text  # the page is rendered from the stored JSON
            return Response(body, media_type=media_type, headers={"Cache-Control": "no-store"})
        return handler

    async def form_page(request: Request) -> Response:
        return HTMLResponse(render("upload.html", title=FORM_TITLE))

    async def form_post(request: Request) -> Response:
        """No-JavaScript fallback of the staff form: token comes as a form field, answer is HTML
        (a refusal too: see :func:`form_refusal_page`)."""
        sub, _ = await _receive_form(request, config)
        return HTMLResponse(render("upload.html", title="Kvitto", sub=sub), status_code=201)

    return [
        Route(f"{API_PREFIX}/submissions", create, methods=["POST"]),
        Route(f"{API_PREFIX}/submissions", listing, methods=["GET"]),
        Route(f"{API_PREFIX}/submissions/{{submission_id}}", status, methods=["GET"]),
        Route(f"{API_PREFIX}/submissions/{{submission_id}}/report.html", report("html", "text/html"), methods=["GET"]),
        Route(f"{API_PREFIX}/submissions/{{submission_id}}/report.json", report("json", "application/json"),
              methods=["GET"]),
        Route(FORM_PATH, form_page, methods=["GET"]),
        Route(FORM_PATH, form_post, methods=["POST"]),
        *_portal_routes(config),
    ]


FORM_TITLE = "Lämna kvartalsuppgifter"
FORM_PATH = "/upload"


def form_refusal_page(refusal: Refused) -> HTMLResponse:
    """A refusal of the no-JavaScript form, as HTML (the app's exception handler calls this)."""
    return HTMLResponse(render("upload.html", title="Filen togs inte emot", refusal=refusal),
                        status_code=refusal.status, headers=refusal.headers)


def _portal_routes(config: UploadConfig) -> list:
    from pipeline.services.portal import portal_routes  # the portal builds on this module

    return portal_routes(config)


async def _receive_form(request: Request, config: UploadConfig) -> tuple[Submission, int]:
    """Like ``_receive`` but the token is a form field (browsers cannot set Authorization on a form)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Refused(400, "bad_form", "Skicka formuläret med en fil.", "multipart form expected")
    cap = config.max_bytes + _MULTIPART_OVERHEAD
    _check_declared_length(request, cap, config)
    async with config.form_slots:
        body = b"".join([c async for c in _capped(request.stream(), cap, config)])
        token = _form_field(body, "token")
        return await _receive(Request(request.scope, receive=_receive_once(body)), config, token=token)


def _receive_once(body: bytes):
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def _form_field(body: bytes, name: str) -> str:
    """A small text field of a buffered multipart body, found without parsing the file part."""
    match = re.search(rb'name="' + name.encode() + rb'"\r\n\r\n([^\r\n]{0,200})\r\n', body)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""
