"""``sukf serve``: one process serving the upload door (/api/v1, /upload) and the public read side.

HTTPS: run behind a TLS-terminating reverse proxy (nginx, Caddy, the municipality network's
load balancer) and start with ``--proxy-headers --forwarded-allow-ips <proxy ip>`` so receipt and
``next_url`` links carry the public https address; or let uvicorn speak TLS itself with
``--ssl-certfile`` / ``--ssl-keyfile``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from pipeline.services.api import ReleaseStore, api_routes
from pipeline.services.upload import RateLimiter, UploadConfig, upload_routes
from pipeline.settings import Paths
from pipeline.settings import paths as default_paths


def create_app(paths: Paths | None = None, *, max_bytes: int | None = None, uploads_per_hour: int = 30) -> Starlette:
    """The whole service. ``paths`` defaults to ``SUKF_DATA_DIR``."""
    paths = paths or default_paths()
    config = UploadConfig(paths, rate_limit=RateLimiter(limit=uploads_per_hour))
    if max_bytes is not None:
        config.max_bytes = max_bytes
    # Public statistics may be read by any web page (like Kolada). Only the portal (/portal) uses a cookie:
    # it is SameSite=Strict (never sent by another site's page) and CORS here never allows credentials.
    cors = Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["X-SUKF-Release"])
    store = ReleaseStore(paths)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(store.preload)  # before uvicorn opens the port
        yield

    return Starlette(routes=upload_routes(config) + api_routes(paths, store), middleware=[cors], lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sukf serve", description="Kör uppladdningstjänsten och läs-API:t.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ssl-certfile", help="PEM-certifikat om tjänsten själv ska tala HTTPS")
    parser.add_argument("--ssl-keyfile", help="privat nyckel till certifikatet")
    parser.add_argument("--proxy-headers", action="store_true",
                        help="lita på X-Forwarded-* från en TLS-proxy framför tjänsten")
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    parser.add_argument("--uploads-per-hour", type=int, default=30)
    args = parser.parse_args(argv)
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        parser.error("--ssl-certfile och --ssl-keyfile måste anges tillsammans")

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheme = "https" if args.ssl_certfile else "http"
    print(f"Läs-API och jämförelsesida: {scheme}://{args.host}:{args.port}/  "
          f"uppladdning: {scheme}://{args.host}:{args.port}/upload  "
          f"kommunportal: {scheme}://{args.host}:{args.port}/portal", flush=True)
    uvicorn.run(create_app(uploads_per_hour=args.uploads_per_hour), host=args.host, port=args.port,
                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, proxy_headers=args.proxy_headers,
                forwarded_allow_ips=args.forwarded_allow_ips, log_level="info")
    return 0
