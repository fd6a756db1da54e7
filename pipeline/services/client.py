"""Command-line client: ``sukf upload`` for municipalities, ``sukf pull`` for consumers.

One requests Session with urllib3 Retry handles transient trouble (connection errors, 429,
502/503/504) with exponential backoff, so a flaky network does not make a person re-run by hand.
Uploads are safe to retry: the service registers identical bytes once (same sha256 → same
submission).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.raw.register import ACCEPTED, RECEIVED

DEFAULT_SERVER = "http://127.0.0.1:8000"
CSV_COLUMNS = ("kpi", "municipality", "period", "gender", "value", "count", "status", "preliminary", "isdeleted")


class ClientError(Exception):
    """A failure worth one clear line to the user (exit code 2)."""


def make_session(retries: int = 5, backoff: float = 0.5) -> requests.Session:
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(429, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD", "POST"}),
                  respect_retry_after_header=True, raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "sukf-client/1"
    return session


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
        return body.get("message") or body.get("error") or response.reason
    except ValueError:
        return response.reason or str(response.status_code)


# ---------------------------------------------------------------------------------------------
# upload


def filename_headers(name: str) -> dict[str, str]:
    """Headers carrying any file name: HTTP headers are Latin-1, so ``Kvartal 3 – Linköping.csv``
    goes as RFC 5987 ``filename*=UTF-8''…`` (percent-encoded UTF-8), with an ASCII fallback."""
    encoded = quote(name, safe="")
    fallback = name.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("\\", "_")
    return {"Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}",
            "X-Filename": encoded}


STORAGE_RETRIES = 4
"""507 (the server's disk is full or failing): retried with backoff, since it says nothing about the file."""


def upload(session: requests.Session, server: str, token: str, file: Path, quarter: str,
           *, backoff: float = 2.0) -> dict:
    headers = {"Authorization": f"Bearer {token}", **filename_headers(file.name),
               "Content-Type": "application/octet-stream"}
    data = file.read_bytes()
    for attempt in range(STORAGE_RETRIES + 1):
        response = session.post(f"{server}/api/v1/submissions", params={"period": quarter}, data=data,
                                headers=headers, timeout=300)
        if response.status_code != 507:
            break
        if attempt < STORAGE_RETRIES:
            wait = backoff * 2 ** attempt
            print(f"Servern kunde inte spara filen, försöker igen om {wait:.0f} s …", file=sys.stderr)
            time.sleep(wait)
    if response.status_code == 507:
        raise ClientError("Servern kunde inte spara filen, försök igen senare (filen är inte avvisad).")
    if response.status_code != 201:
        raise ClientError(f"Uppladdningen avvisades ({response.status_code}): {_message(response)}")
    return response.json()


def wait_for_report(session: requests.Session, receipt: dict, token: str, wait: float,
                    interval: float = 2.0) -> dict | None:
    """Poll until the submission is validated and its JSON report exists; None on timeout."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + wait
    status_url = receipt["report_json_url"].rsplit("/", 1)[0]
    while True:
        status = session.get(status_url, headers=headers, timeout=30)
        if status.ok and status.json().get("status") != RECEIVED:
            report = session.get(receipt["report_json_url"], headers=headers, timeout=60)
            if report.ok:
                return {"submission": status.json(), "report": report.json()}
        if time.monotonic() + interval > deadline:
            return None
        time.sleep(interval)


def _print_summary(result: dict) -> None:
    from pipeline.validation.report import terminal_lines

    sub, report = result["submission"], result["report"]
    lines = terminal_lines(report if isinstance(report, dict) else {}, more=f" (se rapporten: {sub['report_url']})")
    print("Resultat: " + "\n".join(lines))


def _report_failure(exc: BaseException, server: str) -> int:
    """Say what went wrong in one line (retries already happened in the session); exit code 2.

    Never a traceback, and never an exception's own text unless it is ours (``ClientError``):
    library texts can carry URLs with parameters, file names or server answers.
    """
    if isinstance(exc, ClientError):
        message = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        print("Avbrutet.", file=sys.stderr)
        return 130
    elif isinstance(exc, requests.RequestException):
        message = f"kunde inte nå {server}: {exc.__class__.__name__}"
    elif isinstance(exc, OSError):
        message = f"kunde inte läsa eller skriva en fil ({exc.strerror or exc.__class__.__name__})"
    else:
        message = f"oväntat fel ({exc.__class__.__name__}); försök igen eller kontakta den nationella samordnaren"
    print("Fel: " + " ".join(message.split()), file=sys.stderr)
    return 2


def one_line_failures(main):
    """Wrap a command's main so every failure ends as one line on stderr (shared by upload and pull)."""
    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        server = DEFAULT_SERVER
        try:
            return main(argv)
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - the point is that nothing escapes as a traceback
            return _report_failure(exc, os.environ.get("SUKF_SERVER", server))
    return wrapper


@one_line_failures
def upload_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sukf upload", description="Ladda upp kvartalets fil och vänta på rapporten.")
    parser.add_argument("file", type=Path)
    parser.add_argument("--quarter", required=True, help="t.ex. 2025Q3")
    parser.add_argument("--server", default=os.environ.get("SUKF_SERVER", DEFAULT_SERVER))
    parser.add_argument("--wait", type=float, default=600, help="sekunder att vänta på rapporten (0 = vänta inte)")
    args = parser.parse_args(argv)
    token = os.environ.get("SUKF_TOKEN", "").strip()
    if not token:
        print("Fel: sätt miljövariabeln SUKF_TOKEN till kommunens uppladdningsnyckel.", file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"Fel: filen {args.file} finns inte.", file=sys.stderr)
        return 2
    session, server = make_session(), args.server.rstrip("/")
    try:
        receipt = upload(session, server, token, args.file, args.quarter.upper())
        print("Kvitto:\n" + json.dumps(receipt, indent=2, ensure_ascii=False), flush=True)
        if args.wait <= 0:
            return 0
        print("Väntar på valideringsrapporten …", file=sys.stderr)
        result = wait_for_report(session, receipt, token, args.wait)
    except (ClientError, requests.RequestException, OSError, ValueError, KeyError) as exc:
        return _report_failure(exc, server)
    if result is None:
        print(f"Rapporten var inte klar inom {args.wait:.0f} s. Filen är mottagen; hämta rapporten senare: "
              f"{receipt['report_url']}", file=sys.stderr)
        return 2
    _print_summary(result)
    return 0 if result["submission"]["status"] == ACCEPTED else 1


# ---------------------------------------------------------------------------------------------
# pull


def fetch_all(session: requests.Session, url: str, params: dict | None = None) -> dict:
    """Every page of a Kolada v3 answer, following next_url; returns one envelope."""
    values: list = []
    while url:
        response = session.get(url, params=params, timeout=60)
        if not response.ok:
            raise ClientError(f"{response.status_code}: {_message(response)}")
        body = response.json()
        values += body["values"]
        url, params = body.get("next_url"), None
    # Kolada's count is the length of one page's values: the merged envelope counts all of them.
    return {"values": values, "count": len(values), "next_url": None, "previous_url": None}


def flatten(envelope: dict) -> list[dict]:
    """One row per gender value, keeping the value's ``preliminary`` flag (and ``isdeleted`` of a change feed)."""
    def flag(value) -> str:
        return "" if value is None else ("true" if value else "false")

    return [{"kpi": item["kpi"], "municipality": item["municipality"], "period": item["period"], **v,
             "preliminary": flag(v.get("preliminary")), "isdeleted": flag(v.get("isdeleted"))}
            for item in envelope["values"] for v in item["values"]]


def download(session: requests.Session, url: str, target: Path) -> int:
    """Stream one file to disk with progress on stderr; written under a temp name, then renamed."""
    tmp = target.with_name(target.name + ".part")
    with session.get(url, stream=True, timeout=60) as response:
        if response.status_code == 404:
            return -1
        if not response.ok:
            raise ClientError(f"{url}: {response.status_code} {_message(response)}")
        total = int(response.headers.get("content-length") or 0)
        done, last = 0, 0.0
        with tmp.open("wb") as handle:
            for chunk in response.iter_content(chunk_size=256 * 1024):
                handle.write(chunk)
                done += len(chunk)
                if total > 1_000_000 and time.monotonic() - last > 0.5:
                    print(f"\r  {target.name}: {done * 100 // total} %", end="", file=sys.stderr)
                    last = time.monotonic()
        if total > 1_000_000:
            print(f"\r  {target.name}: 100 %", file=sys.stderr)
    tmp.replace(target)
    return done


def pull_release_files(session: requests.Session, server: str, folder: Path, release: str,
                       as_of: str | None = None) -> Path:
    """Download every file of a vintage (as listed by the server from its manifest) and verify each sha256."""
    import hashlib

    from pipeline.release.publish import created_by, read_manifest

    listing = session.get(f"{server}/releases", timeout=60)
    listing.raise_for_status()
    entries = listing.json()["vintages"]
    if as_of:
        try:
            entries = created_by(entries, as_of)
        except ValueError:
            raise ClientError("--as-of ska vara ÅÅÅÅ-MM-DD eller en ISO-tidpunkt.") from None
    if not entries:
        raise ClientError("Ingen årgång är publicerad" + (f" {as_of}." if as_of else "."))
    match = entries[-1] if release == "latest" else next((e for e in entries if e["vintage"] == release), None)
    if match is None:
        raise ClientError(f"Årgången {release} finns inte.")
    target = folder / match["vintage"]
    target.mkdir(parents=True, exist_ok=True)
    for name, url in sorted(match["files"].items()):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        size = download(session, url, target / name)
        print(f"  {name}: {'saknas' if size < 0 else f'{size} byte'}", file=sys.stderr)
    manifest = read_manifest(target)
    for name, meta in manifest["files"].items():
        if hashlib.sha256((target / name).read_bytes()).hexdigest() != meta["sha256"]:
            raise ClientError(f"{name} stämmer inte med årgångens manifest (sha256); hämta igen.")
    return target


@one_line_failures
def pull_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sukf pull", description="Hämta nyckeltal eller en hel årgång.")
    parser.add_argument("--kpi", help="nyckeltals-id, kommaseparerade (högst 25)")
    parser.add_argument("--year", help="år eller kvartal, t.ex. 2025 eller 2025Q3 (kommaseparerade)")
    parser.add_argument("--municipality", help="kommun-/läns-id, kommaseparerade")
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--out", type=Path, help="fil att skriva (standard: skärmen)")
    parser.add_argument("--release", default="latest", help="årgång: latest (standard) eller vNNN")
    parser.add_argument("--as-of", help="årgången som gällde detta datum (ÅÅÅÅ-MM-DD)")
    parser.add_argument("--from-date", help="bara värden som publicerats/ändrats sedan detta datum")
    parser.add_argument("--release-files", type=Path, metavar="DIR", help="ladda ned alla filer i årgången hit")
    parser.add_argument("--server", default=os.environ.get("SUKF_SERVER", DEFAULT_SERVER))
    args = parser.parse_args(argv)
    session, server = make_session(), args.server.rstrip("/")
    try:
        if args.release_files:
            target = pull_release_files(session, server, args.release_files, args.release, args.as_of)
            print(f"Årgången sparad i {target}")
            return 0
        if not args.kpi or not (args.year or args.municipality):
            parser.error("ange --kpi och --year och/eller --municipality (eller --release-files DIR)")
        url = f"{server}/v3/data/kpi/{args.kpi}"
        url += f"/municipality/{args.municipality}" if args.municipality else ""
        url += f"/year/{args.year}" if args.year else ""
        params = {} if args.release == "latest" else {"release": args.release}
        params |= {k: v for k, v in (("as_of", args.as_of), ("from_date", args.from_date)) if v}
        envelope = fetch_all(session, url, params)
    except (ClientError, requests.RequestException) as exc:
        return _report_failure(exc, server)
    if args.format == "json":
        text = json.dumps(envelope, ensure_ascii=False, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(flatten(envelope))
        text = buffer.getvalue()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"{envelope['count']} poster skrivna till {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
