"""The municipality's portal (``/portal``): its own submissions, reports, upload, precheck and feedback.

Works without JavaScript: every action is a plain HTML form (JavaScript only adds drag and drop).
Sign-in takes the upload token once and starts a server-side session (``sessions``); every POST
carries the session's CSRF value, and every page under ``/portal/k/<kommunkod>/`` answers 403 to a
session of another municipality — including for submission ids, quarters and files that exist.

Uploads go through the upload door's own receive path (``upload._receive``) with the session's
token, so size caps, type and personnummer checks, rate limits and the receipt are the door's.
The precheck runs the shared ``validate_submission`` against the municipality's staged history
and stores nothing. Feedback is computed on request from restricted data and never cached on disk.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pipeline.contract.dictionary import municipality_names
from pipeline.contract.periods import Quarter, is_quarter
from pipeline.raw.ingest import safe_name
from pipeline.raw.register import ACCEPTED, RECEIVED, Register
from pipeline.raw.register import STATUS_SV as register_status_sv
from pipeline.services import upload
from pipeline.services.sessions import COOKIE, MAX_SECONDS, PRE_COOKIE, Session, SessionStore
from pipeline.services.tokens import TokenStore
from pipeline.services.upload import Refused, UploadConfig
from pipeline.templating import render
from pipeline.validation.report import html_of_json, stored_json

log = logging.getLogger("sukf.portal")

STOCKHOLM = ZoneInfo("Europe/Stockholm")
PREFIX = "/portal"
_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WEB = Path(__file__).with_name("web")
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
}
STATUS_SV = {**register_status_sv, RECEIVED: register_status_sv[RECEIVED] + " – kontrolleras"}


def local_time(iso: str | None) -> str:
    """A register timestamp (UTC ISO) as Swedish local time, e.g. ``2025-10-15 10:00``."""
    if not iso:
        return "–"
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _kommun_name(kommunkod: str) -> str:
    return municipality_names().get(kommunkod, kommunkod)


def _page(template: str, status: int = 200, **context: object) -> HTMLResponse:
    return HTMLResponse(render(f"portal/{template}", **context), status_code=status, headers=_HEADERS)


def _message(title: str, message: str, status: int, session: Session | None = None, *, error: bool = True,
             details: list[tuple[str, object]] | None = None) -> HTMLResponse:
    kommun = _kommun_name(session.kommunkod) if session else ""
    return _page("message.html", status, title=title, message=message, error=error, details=details or [],
                 session=session, kommun=kommun)


def _quarter_choices(now: datetime | None = None) -> tuple[str, list[str]]:
    """(the quarter most likely being reported now = the previous one, recent quarters to pick from)."""
    today = (now or datetime.now(STOCKHOLM)).date()
    current = Quarter(today.year, (today.month - 1) // 3 + 1)
    default = current.previous()
    choices, q = [], current
    for _ in range(8):
        if is_quarter(str(q)):
            choices.append(str(q))
        q = q.previous()
    return str(default), choices


class Portal:
    def __init__(self, config: UploadConfig) -> None:
        self.config = config
        self.paths = config.paths
        self.sessions = SessionStore(config.paths)
        self.precheck_limit = upload.RateLimiter(limit=60)

    # --- sessions ---------------------------------------------------------------------------------

    def session(self, request: Request) -> Session | None:
        return self.sessions.resolve(request.cookies.get(COOKIE))

    def require(self, request: Request) -> Session:
        """The session, entitled to the municipality in the path; Refused 401/403 otherwise."""
        session = self.session(request)
        if session is None:
            raise Refused(401, "unauthorized", "Logga in först (sessionen saknas eller har gått ut).")
        if request.path_params.get("kommunkod") != session.kommunkod:
            log.warning("portal: token %s (kommun %s) asked for another municipality's page", session.token.token_id,
                        session.kommunkod)
            raise Refused(403, "forbidden", "Sidan tillhör en annan kommun.")
        return session

    def check_origin(self, request: Request) -> None:
        """Browsers send Origin on form posts: it must be this host (second line after CSRF tokens)."""
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = request.headers.get("host", "")
            if re.sub(r"^https?://", "", origin) != host:
                raise Refused(403, "bad_origin", "Formuläret kom från en annan webbplats.")

    def require_post(self, request: Request, csrf: str | None) -> Session:
        session = self.require(request)
        self.check_origin(request)
        if not self.sessions.csrf_ok(session, csrf):
            raise Refused(403, "csrf", "Formuläret har gått ut eller kom inte från portalen. Ladda om sidan.")
        return session

    async def buffered(self, request: Request) -> tuple[bytes, str]:
        """(whole multipart body, its csrf field), read with the door's size cap."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise Refused(400, "bad_form", "Skicka formuläret med en fil.")
        cap = self.config.max_bytes + upload._MULTIPART_OVERHEAD
        upload._check_declared_length(request, cap, self.config)
        body = b"".join([c async for c in upload._capped(request.stream(), cap, self.config)])
        return body, upload._form_field(body, "csrf")

    @staticmethod
    def replay(request: Request, body: bytes) -> Request:
        return Request(request.scope, receive=upload._receive_once(body))

    def base(self, session: Session) -> str:
        return f"{PREFIX}/k/{session.kommunkod}"

    # --- pages --------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self.session(request)
        if session is None:
            return self.login_page(request)
        register = Register(self.paths)
        subs = sorted(register.list(kommunkod=session.kommunkod), key=lambda s: s.received_at, reverse=True)
        rows = [{**s.as_dict(), "received_local": local_time(s.received_at),
                 "status_sv": STATUS_SV.get(s.status, s.status),
                 "has_report": s.status != RECEIVED} for s in subs]
        accepted = sorted({s.period for s in subs if s.status == ACCEPTED}, reverse=True)
        from pipeline.feedback.local import load_definition

        default, choices = _quarter_choices()
        return _page("home.html", title="Kommunens sidor", session=session, kommun=_kommun_name(session.kommunkod),
                     base=self.base(session), submissions=rows, accepted_quarters=accepted,
                     default_quarter=default, quarters=choices,
                     definition=load_definition(self.paths, session.kommunkod))

    def login_page(self, request: Request, message: str = "", status: int = 200) -> Response:
        import secrets

        pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
        response = _page("login.html", status, title="Logga in", session=None, message=message,
                         csrf=self.sessions.pre_csrf(pre))
        response.set_cookie(PRE_COOKIE, pre, max_age=3600, path=PREFIX, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def login(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > 4096:
            return self.login_page(request, "Inloggningen kunde inte läsas.", 400)
        form = await request.form()
        pre = request.cookies.get(PRE_COOKIE, "")
        try:
            self.check_origin(request)
        except Refused as refusal:
            return self.login_page(request, refusal.message_sv, 403)
        if not pre or not self.sessions.csrf_ok_pre(pre, str(form.get("csrf", ""))):
            return self.login_page(request, "Formuläret har gått ut. Försök igen.", 403)
        info = TokenStore(self.paths).verify(str(form.get("token", "")))
        if info is None:
            log.info("portal sign-in refused")
            return self.login_page(request, "Nyckeln är ogiltig eller spärrad.", 401)
        cookie = self.sessions.start(info)
        log.info("portal sign-in: token %s kommun %s", info.token_id, info.kommunkod)
        response = RedirectResponse(PREFIX, status_code=303, headers=_HEADERS)
        response.set_cookie(COOKIE, cookie, max_age=MAX_SECONDS, path=PREFIX, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        response.delete_cookie(PRE_COOKIE, path=PREFIX)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.session(request)
        declared = request.headers.get("content-length", "")
        form = await request.form() if declared.isdigit() and int(declared) <= 4096 else {}
        if session is not None and self.sessions.csrf_ok(session, str(form.get("csrf", ""))):
            self.sessions.end(session)
        response = RedirectResponse(PREFIX, status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    async def script(self, request: Request) -> Response:
        return FileResponse(_WEB / "portal.js", media_type="text/javascript", headers=_HEADERS)

    def own_submission(self, request: Request, session: Session):
        sid = request.path_params["submission_id"]
        sub = Register(self.paths).get(sid) if _SID.match(sid) else None
        if sub is None or sub.kommunkod != session.kommunkod:
            # another municipality's id answers exactly like an unknown one: 403, no existence leak
            raise Refused(403, "forbidden", "Inlämningen tillhör inte er kommun.")
        return sub

    async def report(self, request: Request) -> Response:
        session = self.require(request)
        sub = self.own_submission(request, session)
        suffix = request.path_params["suffix"]
        if suffix not in ("html", "json"):
            raise Refused(404, "not_found", "Ingen sådan rapport.")
        text = await run_in_threadpool(stored_json, self.paths, sub.submission_id)
        if text is None:
            return _message("Rapporten är inte klar", "Filen kontrolleras vid nästa körning; rapporten visas här "
                            "när den är klar.", 404, session)
        if suffix == "json":
            headers = {**_HEADERS, "Content-Disposition":
                       f'attachment; filename="kontrollrapport_{sub.kommunkod}_{sub.period}_v{sub.version}.json"'}
            return Response(text, media_type="application/json", headers=headers)
        return HTMLResponse(html_of_json(text), headers=_HEADERS)  # the page is rendered from the stored JSON

    async def upload_file(self, request: Request) -> Response:
        session = self.require(request)
        async with self.config.form_slots:
            body, csrf = await self.buffered(request)
            self.require_post(request, csrf)
            sub, _ = await upload._receive(self.replay(request, body), self.config, info=session.token)
        details = [("Inlämnings-id", sub.submission_id), ("Kvartal", sub.period), ("Version", sub.version),
                   ("Mottagen", local_time(sub.received_at)), ("SHA-256", sub.sha256)]
        return _message("Kvitto", "Filen är mottagen och sparad. Den kontrolleras vid nästa körning; rapporten "
                        "visas sedan i listan över inlämningar.", 201, session, error=False, details=details)

    async def template(self, request: Request) -> Response:
        session = self.require(request)
        from pipeline.submission.template import template_bytes

        data = await run_in_threadpool(template_bytes, kommunkod=session.kommunkod)
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={**_HEADERS, "Content-Disposition":
                                 f'attachment; filename="sukf_mall_{session.kommunkod}.xlsx"'})

    async def precheck(self, request: Request) -> Response:
        session = self.require(request)
        async with self.config.form_slots:
            body, csrf = await self.buffered(request)
            self.require_post(request, csrf)
            self.precheck_limit.check(session.token.token_id)
            data, fields = await upload._read_body(self.replay(request, body), self.config)
        period = (fields.get("period") or "").strip().upper()
        if not is_quarter(period):
            raise Refused(400, "bad_period", "Ange kvartal som ÅÅÅÅKn, t.ex. 2025Q3.")
        from pipeline.validation.precheck import precheck_report

        page = await run_in_threadpool(precheck_report, self.paths, data, fields.get("filename", ""), period,
                                       session.kommunkod)
        return HTMLResponse(page, headers=_HEADERS)

    async def definition(self, request: Request) -> Response:
        session = self.require(request)
        async with self.config.form_slots:
            body, csrf = await self.buffered(request)
            self.require_post(request, csrf)
            data, fields = await upload._read_body(self.replay(request, body), self.config)
        from pipeline.feedback.local import DefinitionError, parse_definition, save_definition

        try:
            definition = await run_in_threadpool(parse_definition, data, safe_name(fields["filename"]))
        except DefinitionError as exc:
            return _message("Definitionen sparades inte", str(exc), 422, session)
        save_definition(self.paths, session.kommunkod, definition)
        return _message("Definitionen är sparad", f"{len(definition)} lokala variabler har namn och kodlistor.",
                        200, session, error=False)

    def _feedback(self, request: Request, session: Session):
        from pipeline.feedback.build import NoFeedback, build_feedback

        period = request.path_params["period"].upper()
        if not is_quarter(period):
            raise Refused(404, "not_found", "Okänt kvartal.")
        try:
            return build_feedback(self.paths, session.kommunkod, period, cross=request.query_params.get("kors", "kon"))
        except NoFeedback:
            raise Refused(404, "no_feedback", f"Kommunen har ingen godkänd inlämning för {period} än.") from None

    async def feedback_page(self, request: Request) -> Response:
        session = self.require(request)
        from pipeline.feedback.build import CROSSABLE
        from pipeline.feedback.export import to_html

        fb = await run_in_threadpool(self._feedback, request, session)
        base = f"{self.base(session)}/aterkoppling/{fb.period}"
        links = {"Startsidan": PREFIX, "Hämta som Excel": f"{base}/excel.xlsx",
                 "Utskriftsvänlig sida": f"{base}/utskrift"}
        return HTMLResponse(to_html(fb, links=links, crossable=CROSSABLE, cross=fb.cross), headers=_HEADERS)

    async def feedback_print(self, request: Request) -> Response:
        session = self.require(request)
        from pipeline.feedback.export import to_html

        fb = await run_in_threadpool(self._feedback, request, session)
        return HTMLResponse(to_html(fb), headers=_HEADERS)

    async def feedback_excel(self, request: Request) -> Response:
        session = self.require(request)
        from pipeline.feedback.export import to_excel

        fb = await run_in_threadpool(self._feedback, request, session)
        data = await run_in_threadpool(to_excel, fb)
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={**_HEADERS, "Content-Disposition":
                                 f'attachment; filename="aterkoppling_{fb.kommunkod}_{fb.period}.xlsx"'})


def refusal_page(refusal: Refused) -> HTMLResponse:
    """A refusal in the portal: a Swedish HTML page with the refusal's status (never a stack trace).
    Called by the app's exception handler (``pipeline.services.serve``) for paths under /portal."""
    return HTMLResponse(render("portal/message.html", title="Det gick inte", message=refusal.message_sv, error=True,
                               details=[], session=None),
                        status_code=refusal.status, headers={**_HEADERS, **refusal.headers})


def portal_routes(config: UploadConfig) -> list[Route]:
    portal = Portal(config)
    k = f"{PREFIX}/k/{{kommunkod}}"
    routes = [
        (PREFIX, portal.home, "GET"),
        (f"{PREFIX}/logga-in", portal.login, "POST"),
        (f"{PREFIX}/logga-ut", portal.logout, "POST"),
        (f"{PREFIX}/static/portal.js", portal.script, "GET"),
        (f"{k}/inlamningar/{{submission_id}}/rapport.{{suffix:str}}", portal.report, "GET"),
        (f"{k}/ladda-upp", portal.upload_file, "POST"),
        (f"{k}/mall.xlsx", portal.template, "GET"),
        (f"{k}/forhandskontroll", portal.precheck, "POST"),
        (f"{k}/lokala-variabler", portal.definition, "POST"),
        (f"{k}/aterkoppling/{{period}}", portal.feedback_page, "GET"),
        (f"{k}/aterkoppling/{{period}}/utskrift", portal.feedback_print, "GET"),
        (f"{k}/aterkoppling/{{period}}/excel.xlsx", portal.feedback_excel, "GET"),
    ]
    return [Route(path, handler, methods=[method]) for path, handler, method in routes]


__all__ = ["portal_routes", "local_time", "refusal_page"]
