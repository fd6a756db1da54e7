"""Benchmark: the read API under a steady open-loop load, over loopback. Prints numbers; asserts nothing.

    python benchmarks/api_load.py                       # build a national release, 200 req/s for 60 s
    python benchmarks/api_load.py --data /tmp/d --seconds 30 --label after

What it does, in order:

1. Unless ``--data`` names an existing data folder, builds a realistic national release with the project's
   own generator of key figures (``simulate_mart``: 290 kommuner, 21 län, Riket, 19 KPIs, 12 quarters + 3
   years), real disclosure control and the real publisher — two vintages (v001 without 2025Q4, v002 with
   it and disclosure respecting v001), so ``?release=``, ``?as_of=`` and the ``from_date`` feed are real.
2. Starts the real server (``sukf serve`` = uvicorn, one process for the read API *and* the upload door)
   as a subprocess on 127.0.0.1 and times the first request after the port opens.
3. Runs an open-loop load generator: request *i* is due at ``start + i / rate`` whether or not earlier
   answers came back (no coordinated omission: latency is counted from the due time). Endpoints are drawn
   from a fixed mix with random KPI / kommun / year, so most data answers are not repeats.
4. Meanwhile uploads a real submission file (generator output) every second with a token, and compares
   that upload latency with the same uploads on an idle server: a read must never stall the upload door.
5. Prints per-endpoint p50/p95/p99/max, achieved rate, errors, the generator's own lag and CPU, the
   server's CPU per request, the load average, and writes a JSON record to ``benchmarks/records/``.
   The first ``--warmup`` seconds (default 5: empty answer cache, thread pool still growing) run at the
   same rate but are reported on their own line; the per-endpoint figures are the steady state after.

The machine may be shared: the load average before and after is printed and recorded with the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "benchmarks" / "records"
V1_CREATED = "2025-08-15T06:00:00+00:00"
V2_CREATED = "2025-11-14T06:00:00+00:00"
UPLOAD_KOMMUN = "0114"


# ---------------------------------------------------------------------------------------------
# data


def build_release(data: Path, seed: int) -> None:
    """Two national vintages through the real disclosure control and publisher (without the LP interval
    step, which takes minutes on 15 national periods; the read API serves the files the same way)."""
    from pipeline.contract.periods import quarter_range
    from pipeline.keyfigures.disclosure import apply_disclosure
    from pipeline.release.cells import history_cells
    from pipeline.release.publish import publish_vintage
    from pipeline.release.simulate import simulate_mart
    from pipeline.settings import Paths

    paths = Paths(data).ensure()
    t = time.perf_counter()
    mart = simulate_mart(quarter_range("2023Q1", "2025Q4") + ["2023", "2024", "2025"], seed=seed)
    first = mart[mart["period"].astype(str) != "2025Q4"]
    publish_vintage(apply_disclosure(first, intervals=False), paths=paths, submissions=[], closed_years={2023},
                    now=datetime.fromisoformat(V1_CREATED))
    publish_vintage(apply_disclosure(mart, previous=history_cells(paths), intervals=False), paths=paths, submissions=[],
                    closed_years={2023, 2024}, now=datetime.fromisoformat(V2_CREATED))
    print(f"release       {len(mart):,} mart cells -> v001, v002 in {time.perf_counter() - t:.1f} s ({data})")


def upload_files(work: Path, seed: int) -> list[bytes]:
    """Real submission files of one kommun (the generator's CSV), to post during the load."""
    from pipeline.submission.generator import write_submissions

    files = write_submissions(work / "gen", ["2025Q1", "2025Q2", "2025Q3", "2025Q4"], kommuner=[UPLOAD_KOMMUN],
                              seed=seed, fmt="csv")
    return [f.read_bytes() for f in files]


def issue_token(data: Path) -> str:
    from pipeline.services.tokens import TokenStore
    from pipeline.settings import Paths

    return TokenStore(Paths(data).ensure()).issue(UPLOAD_KOMMUN, "api_load benchmark")[1]


# ---------------------------------------------------------------------------------------------
# endpoint mix


@dataclass
class Mix:
    """Weighted request kinds; each draws its own random parameters."""

    kpis: list[str]
    munis: list[str]
    groups: list[str]
    years: list[int]
    quarters: list[str]
    rng: random.Random
    kinds: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # (name, weight): the data endpoints dominate, as in real use; page files and downloads are rarer.
        self.kinds = [
            ("data_kpi_year_all_munis", 12), ("data_municipality_kpi", 10), ("data_municipality_year", 8),
            ("data_kpi_muni_quarters", 6), ("data_group", 6), ("data_kpi_all", 4), ("data_query_params", 4),
            ("data_from_date", 5), ("data_release_pin", 5), ("data_as_of", 4),
            ("kpi", 4), ("kpi_ids", 3), ("municipality", 3), ("municipality_lan", 2), ("municipality_groups", 3),
            ("municipality_groups_id", 2), ("kpi_groups", 1), ("meta_release", 3), ("meta_kpis", 2),
            ("meta_counties", 2), ("page", 2), ("static_app_js", 2), ("releases", 1), ("release_file", 1),
            ("download_ranking_csv", 1), ("download_series_xlsx", 1), ("openapi", 1),
        ]
        self._names = [k for k, _ in self.kinds]
        self._weights = [w for _, w in self.kinds]

    def draw(self) -> tuple[str, str]:
        kind = self.rng.choices(self._names, self._weights)[0]
        return kind, self.path(kind)

    def path(self, kind: str) -> str:
        r = self.rng
        k, m, y, g = r.choice(self.kpis), r.choice(self.munis), r.choice(self.years), r.choice(self.groups)
        return {
            "data_kpi_year_all_munis": f"/v3/data/kpi/{k}/year/{y}",
            "data_municipality_kpi": f"/v3/data/kpi/{k}/municipality/{m}",
            "data_municipality_year": f"/v3/data/municipality/{m}/year/{y}",
            "data_kpi_muni_quarters": f"/v3/data/kpi/{k}/municipality/{m}/year/{','.join(self.quarters[-4:])}",
            "data_group": f"/v3/data/kpi/{k}/municipality/{g},{m}/year/{y}",
            "data_kpi_all": f"/v3/data/kpi/{k}",
            "data_query_params": f"/v3/data?kpi_id={k}&municipality_id={m}&year={y}",
            "data_from_date": f"/v3/data/kpi/{k}/year/{y}?from_date=2025-11-01",
            "data_release_pin": f"/v3/data/kpi/{k}/year/{y}?release=v001",
            "data_as_of": f"/v3/data/kpi/{k}/municipality/{m}?as_of=2025-09-30",
            "kpi": "/v3/kpi",
            "kpi_ids": f"/v3/kpi/{k},{r.choice(self.kpis)}",
            "municipality": "/v3/municipality",
            "municipality_lan": "/v3/municipality?region_type=L",
            "municipality_groups": "/v3/municipality_groups",
            "municipality_groups_id": f"/v3/municipality_groups/{g}",
            "kpi_groups": "/v3/kpi_groups",
            "meta_release": "/meta/release.json",
            "meta_kpis": "/meta/kpis.json",
            "meta_counties": "/meta/counties.json",
            "page": "/",
            "static_app_js": "/static/app.js",
            "releases": "/releases",
            "release_file": f"/releases/v002/data/{y}.json",
            "download_ranking_csv": f"/download/ranking.csv?kpi={k}&period={y}",
            "download_series_xlsx": f"/download/series.xlsx?kpi={k}&municipality={m}",
            "openapi": "/v3/openapi.json",
        }[kind]


def default_mix(seed: int) -> Mix:
    from pipeline.contract.dictionary import municipalities
    from pipeline.contract.kpis import KPIS
    from pipeline.contract.municipality_groups import municipality_groups

    return Mix(kpis=[k.id for k in KPIS], munis=[m.kod for m in municipalities()],
               groups=sorted(municipality_groups()), years=[2023, 2024, 2025],
               quarters=["2025Q1", "2025Q2", "2025Q3", "2025Q4"], rng=random.Random(seed))


# ---------------------------------------------------------------------------------------------
# a minimal HTTP/1.1 keep-alive client (cheap enough that the generator is not what is measured)


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, int]:
        """(status, body bytes) of one request on this connection."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            size = int(fields["content-length"])
            await self.reader.readexactly(size)
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            size = 0
            while True:
                chunk = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                await self.reader.readexactly(chunk + 2)
                size += chunk
                if chunk == 0:
                    break
        else:
            raise RuntimeError(f"answer without length to {path}")
        return status, size


class Pool:
    """Idle keep-alive connections; a new one is opened when all are busy (as many browsers/clients do).
    Connections idle longer than the server's keep-alive timeout (uvicorn: 5 s) are closed, not reused."""

    IDLE_S = 4.0

    def __init__(self, port: int) -> None:
        self.port, self.idle, self.opened = port, [], 0

    async def get(self, fresh: bool = False) -> Connection:
        now = time.perf_counter()
        while self.idle and not fresh:
            conn, since = self.idle.pop()
            if now - since < self.IDLE_S:
                return conn
            conn.writer.close()
        self.opened += 1
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Connection(reader, writer)

    def put(self, conn: Connection) -> None:
        self.idle.append((conn, time.perf_counter()))

    def close(self) -> None:
        for conn, _ in self.idle:
            conn.writer.close()


async def timed(pool: Pool, method: str, path: str, **kw) -> tuple[float, int]:
    """(seconds, status) of one request, on a pooled connection. Like any HTTP client, a request that
    fails on a reused connection (the server may close one at any time) is sent once more on a new one;
    status 599 = no answer."""
    t = time.perf_counter()
    for fresh in (False, True):
        conn = await pool.get(fresh)
        try:
            status, _ = await conn.request(method, path, **kw)
        except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError):
            conn.writer.close()
            continue
        pool.put(conn)
        return time.perf_counter() - t, status
    return time.perf_counter() - t, 599


# ---------------------------------------------------------------------------------------------
# the run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(ms: list[float]) -> dict:
    return {"n": len(ms), "p50": round(pct(ms, 50), 2), "p95": round(pct(ms, 95), 2), "p99": round(pct(ms, 99), 2),
            "max": round(max(ms), 2) if ms else None}


def proc_cpu(pid: int) -> float:
    """user + sys CPU seconds of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


async def open_loop(port: int, mix: Mix, rate: float, seconds: float, token: str, uploads: list[bytes],
                    upload_every: float) -> dict:
    pool, upload_pool = Pool(port), Pool(port)
    results: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    statuses: dict[int, int] = {}
    timeline: list[tuple[float, str, float, int]] = []
    lags: list[float] = []
    upload_ms: list[float] = []
    upload_status: list[int] = []
    total = int(rate * seconds)
    plan = [mix.draw() for _ in range(total)]
    tasks = []
    start = time.perf_counter() + 0.05

    async def one(due: float, kind: str, path: str) -> None:
        lags.append((time.perf_counter() - due) * 1000)
        _, status = await timed(pool, "GET", path)
        ms = (time.perf_counter() - due) * 1000  # from the due time: waiting counts
        results.setdefault(kind, []).append(ms)
        timeline.append((round(due - start, 3), kind, round(ms, 1), status))
        if status >= 400:
            errors[kind] = errors.get(kind, 0) + 1
            statuses[status] = statuses.get(status, 0) + 1

    async def uploader() -> None:
        i = 0
        while time.perf_counter() < start + seconds:
            await asyncio.sleep(upload_every)
            dt, status = await post_upload(upload_pool, token, uploads[i % len(uploads)], i)
            upload_ms.append(dt * 1000)
            upload_status.append(status)
            i += 1

    up = asyncio.create_task(uploader()) if uploads else None
    cpu0 = time.process_time()
    for i, (kind, path) in enumerate(plan):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, kind, path)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    gen_cpu = time.process_time() - cpu0
    if up:
        await up
    pool.close()
    upload_pool.close()
    done = sum(len(v) for v in results.values())
    return {"results": results, "errors": errors, "lags": lags, "elapsed": elapsed, "done": done,
            "generator_cpu_s": gen_cpu, "error_statuses": statuses, "timeline": timeline,
            "connections": pool.opened, "upload_ms": upload_ms,
            "upload_status": upload_status}


async def post_upload(pool: Pool, token: str, data: bytes, i: int) -> tuple[float, int]:
    period = f"2025Q{i % 4 + 1}"
    return await timed(pool, "POST", f"/api/v1/submissions?period={period}", body=data,
                       headers={"Authorization": f"Bearer {token}", "X-Filename": f"{UPLOAD_KOMMUN}_{period}.csv",
                                "Content-Type": "application/octet-stream"})


async def idle_uploads(port: int, token: str, uploads: list[bytes], n: int) -> list[float]:
    pool = Pool(port)
    out = []
    for i in range(n):
        dt, status = await post_upload(pool, token, uploads[i % len(uploads)], 1000 + i)
        out.append(dt * 1000)
        await asyncio.sleep(0.2)
    pool.close()
    return out


def start_server(data: Path, port: int, log: Path) -> tuple[subprocess.Popen, float, float]:
    """(process, seconds until the port accepts, first request ms)."""
    env = {**os.environ, "SUKF_DATA_DIR": str(data)}
    cmd = [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port), "--uploads-per-hour", "1000000"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: see {log}")
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            break
        except OSError:
            time.sleep(0.005)
    listening = time.perf_counter() - t0
    sock.settimeout(60)
    t = time.perf_counter()
    sock.sendall(b"GET /v3/data/kpi/SUKF01/year/2025 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    first = (time.perf_counter() - t) * 1000
    sock.close()
    head = b"".join(chunks)[:40]
    if b" 200 " not in head:
        raise SystemExit(f"first request failed: {head!r}")
    return proc, listening, first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="reuse this data folder (built here if it has no release)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of the same load first, reported apart (cold caches, thread pool growing)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--upload-every", type=float, default=1.0, help="seconds between uploads during load")
    parser.add_argument("--no-upload", action="store_true")
    parser.add_argument("--label", default="", help="name for the JSON record (e.g. before, after)")
    args = parser.parse_args()

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    work = Path(tempfile.mkdtemp(prefix="sukf-api-bench-"))
    data = args.data or work / "data"
    if not (data / "releases" / "index.json").is_file():
        build_release(data, args.seed)
    token = issue_token(data)
    uploads = [] if args.no_upload else upload_files(work, args.seed)
    mix = default_mix(args.seed)

    port = free_port()
    load_before = os.getloadavg()
    proc, listening, first = start_server(data, port, work / "server.log")
    print(f"server        pid {proc.pid} listening {listening:.2f} s after start; first request "
          f"(/v3/data/kpi/SUKF01/year/2025) {first:.1f} ms")
    try:
        # cold: the first answer of every kind, one at a time, before the load
        cold = {}
        for kind, _ in mix.kinds:
            dt, status = asyncio.run(_one(port, mix.path(kind)))
            cold[kind] = round(dt * 1000, 1)
        idle = asyncio.run(idle_uploads(port, token, uploads, 5)) if uploads else []
        cpu0 = proc_cpu(proc.pid)
        run = asyncio.run(open_loop(port, mix, args.rate, args.warmup + args.seconds, token, uploads,
                                    args.upload_every))
        server_cpu = proc_cpu(proc.pid) - cpu0
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    load_after = os.getloadavg()

    # steady state = requests due after the warm-up; the warm-up's own numbers are printed too
    steady: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    warm = []
    for due, kind, ms, status in run["timeline"]:
        if due < args.warmup:
            warm.append(ms)
            continue
        steady.setdefault(kind, []).append(ms)
        errors[kind] = errors.get(kind, 0) + (status >= 400)
    per = {kind: {**summary(ms), "errors": errors.get(kind, 0), "cold_ms": cold.get(kind)}
           for kind, ms in sorted(steady.items())}
    every = [x for ms in steady.values() for x in ms]
    total = {**summary(every), "errors": sum(errors.values())}
    warmup = summary(warm)
    achieved = run["done"] / run["elapsed"]
    print(f"load          {run['done']} requests in {run['elapsed']:.1f} s = {achieved:.1f} req/s "
          f"(target {args.rate:.0f}); errors {total['errors']} {run['error_statuses'] or ''}; "
          f"{run['connections']} connections opened")
    print(f"per endpoint, requests due after the {args.warmup:.0f} s warm-up:")
    print(f"{'endpoint':<26}{'n':>6}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}{'cold':>8}{'err':>5}   (ms)")
    for kind, s in per.items():
        print(f"{kind:<26}{s['n']:>6}{s['p50']:>8.1f}{s['p95']:>8.1f}{s['p99']:>8.1f}{s['max']:>8.1f}"
              f"{s['cold_ms']:>8.1f}{s['errors']:>5}")
    print(f"{'ALL (steady)':<26}{total['n']:>6}{total['p50']:>8.1f}{total['p95']:>8.1f}{total['p99']:>8.1f}"
          f"{total['max']:>8.1f}{'':>8}{total['errors']:>5}")
    if warm:
        label = f"warm-up (first {args.warmup:.0f} s)"
        print(f"{label:<26}{warmup['n']:>6}{warmup['p50']:>8.1f}{warmup['p95']:>8.1f}{warmup['p99']:>8.1f}"
              f"{warmup['max']:>8.1f}")
    lag = summary(run["lags"])
    print(f"generator     send lag p50 {lag['p50']:.2f} / p99 {lag['p99']:.2f} / max {lag['max']:.1f} ms; "
          f"CPU {run['generator_cpu_s']:.1f} s = {run['generator_cpu_s'] / max(run['done'], 1) * 1e6:.0f} µs/request")
    print(f"server        CPU {server_cpu:.1f} s = {server_cpu / max(run['done'], 1) * 1000:.2f} ms/request "
          f"({server_cpu / run['elapsed'] * 100:.0f} % of one core)")
    up_idle, up_load = summary(idle), summary(run["upload_ms"])
    if uploads:
        bad = [s for s in run["upload_status"] if s >= 300]
        print(f"upload        idle p50 {up_idle['p50']:.1f} max {up_idle['max']:.1f} ms; under read load "
              f"n={up_load['n']} p50 {up_load['p50']:.1f} p99 {up_load['p99']:.1f} max {up_load['max']:.1f} ms; "
              f"non-2xx {len(bad)}")
    print(f"load average  before {load_before[0]:.2f} after {load_after[0]:.2f} (1 min; 2 cores, shared machine)")

    record = {
        "benchmark": "api_load", "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True).stdout.strip(),
        "rate_target": args.rate, "rate_achieved": round(achieved, 1), "seconds": args.seconds,
        "warmup_s": args.warmup, "warmup": warmup,
        "server_listening_s": round(listening, 2), "first_request_ms": round(first, 1),
        "endpoints": per, "all": total, "generator": {**lag, "cpu_s": round(run["generator_cpu_s"], 2)},
        "server_cpu_s": round(server_cpu, 2),
        "upload_idle_ms": up_idle, "upload_under_load_ms": up_load,
        "loadavg_before": load_before, "loadavg_after": load_after, "cores": os.cpu_count(),
    }
    slow = sorted(run["timeline"], key=lambda r: -r[2])[:5]
    print("slowest       " + "; ".join(f"t={t:.2f}s {kind} {ms:.0f} ms ({st})" for t, kind, ms, st in slow))
    (work / "timeline.json").write_text(json.dumps(run["timeline"]))
    RECORDS.mkdir(parents=True, exist_ok=True)
    name = f"api_load-{datetime.now(UTC):%Y%m%dT%H%M%S}{'-' + args.label if args.label else ''}.json"
    (RECORDS / name).write_text(json.dumps(record, indent=2) + "\n")
    print(f"record        {RECORDS / name}  (server log, timeline: {work})")
    return 0


async def _one(port: int, path: str) -> tuple[float, int]:
    pool = Pool(port)
    try:
        return await timed(pool, "GET", path)
    finally:
        pool.close()


if __name__ == "__main__":
    raise SystemExit(main())
