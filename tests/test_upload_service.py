"""The upload door over loopback: receipts, ownership, and hostile uploads refused with nothing written."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from services_fixtures import loopback

from pipeline.raw.register import Register
from pipeline.services.serve import create_app
from pipeline.services.tokens import TokenStore
from pipeline.settings import Paths
from pipeline.submission.generator import encode, fake_personnummer, simulate_cases, zip_bomb_xlsx
from pipeline.validation.record_and_stage import record
from pipeline.validation.validate import validate_submission


@pytest.fixture(scope="module")
def frame():
    return simulate_cases(["2025Q3"], ["0114"], seed=3)[("0114", "2025Q3")]


@pytest.fixture(scope="module")
def good_csv(frame):
    return encode(frame, "csv")


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    paths = Paths(tmp_path).ensure()
    store = TokenStore(paths)
    tokens = {k: store.issue(k)[1] for k in ("0114", "0180")}
    with loopback(create_app(paths, max_bytes=2 * 1024 * 1024, uploads_per_hour=8)) as client:
        yield paths, tokens, client


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post_raw(client, token, data, name="fil.csv", period="2025Q3", **params):
    return client.post("/api/v1/submissions", params={"period": period, **params}, data=data,
                       headers={**auth(token), "X-Filename": name, "Content-Type": "application/octet-stream"})


def nothing_written(paths: Paths) -> bool:
    return not [p for p in paths.raw.rglob("*") if p.is_file()] and Register(paths).list() == []


def test_receipt_after_bytes_on_disk_and_status(env, good_csv):
    paths, tokens, client = env
    response = post_raw(client, tokens["0114"], good_csv, name="väsby_2025Q3.csv")
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert {"submission_id", "sha256", "version", "kommunkod", "period", "status", "report_url",
            "report_json_url"} <= receipt.keys()
    assert receipt["kommunkod"] == "0114" and receipt["status"] == "received" and receipt["version"] == 1
    stored = paths.raw / receipt["sha256"][:2] / receipt["sha256"]
    assert stored.read_bytes() == good_csv
    sub = Register(paths).get(receipt["submission_id"])
    assert sub.original_name == "väsby_2025Q3.csv" and sub.source == "upload"

    status = client.get(f"/api/v1/submissions/{receipt['submission_id']}", headers=auth(tokens["0114"])).json()
    assert status["status"] == "received"
    assert client.get(receipt["report_json_url"][len(client.base):], headers=auth(tokens["0114"])).status_code == 404

    # multipart form upload of a changed file → version 2, listed as own
    form = client.post("/api/v1/submissions", headers=auth(tokens["0114"]), data={"period": "2025Q3"},
                       files={"file": ("v2.csv", good_csv + b"\n")})
    assert form.status_code == 201 and form.json()["version"] == 2
    own = client.get("/api/v1/submissions", headers=auth(tokens["0114"])).json()["submissions"]
    assert len(own) == 2
    assert client.get("/api/v1/submissions", headers=auth(tokens["0180"])).json()["submissions"] == []
    assert client.get("/api/v1/submissions").status_code == 401


def test_reports_and_other_municipality(env, good_csv):
    paths, tokens, client = env
    receipt = post_raw(client, tokens["0114"], good_csv).json()
    sid = receipt["submission_id"]
    register = Register(paths)
    sub = register.get(sid)
    record(paths, register, sub, validate_submission(good_csv, "x.csv", period=sub.period, kommunkod=sub.kommunkod))
    own = client.get(f"/api/v1/submissions/{sid}/report.json", headers=auth(tokens["0114"]))
    assert own.status_code == 200 and own.json()["status"] == "accepted"
    assert "Kontrollrapport" in client.get(f"/api/v1/submissions/{sid}/report.html", headers=auth(tokens["0114"])).text
    for path in (f"/api/v1/submissions/{sid}", f"/api/v1/submissions/{sid}/report.json",
                 f"/api/v1/submissions/{sid}/report.html"):
        assert client.get(path, headers=auth(tokens["0180"])).status_code == 403
    assert client.get("/api/v1/submissions/..%2F..%2Fregister", headers=auth(tokens["0114"])).status_code == 404
    # B's token may not submit for A
    refused = post_raw(client, tokens["0180"], good_csv, kommunkod="0114")
    assert refused.status_code == 403 and "0180" in refused.json()["message"]
    assert len(Register(paths).list()) == 1


def test_revoked_or_bad_token(env, good_csv):
    paths, tokens, client = env
    assert post_raw(client, "nonsense", good_csv).status_code == 401
    store = TokenStore(paths)
    store.revoke(store.list()[0].token_id)
    assert post_raw(client, tokens["0114"], good_csv).status_code == 401
    assert nothing_written(paths)


def test_hostile_uploads_leave_nothing(env, frame, good_csv):
    paths, tokens, client = env
    token = tokens["0114"]
    # oversize, raw body and multipart (server cap is 2 MB here)
    big = good_csv + b"x" * (2 * 1024 * 1024)
    assert post_raw(client, token, big).status_code == 413
    form = client.post("/api/v1/submissions", headers=auth(token), data={"period": "2025Q3"},
                       files={"file": ("big.csv", big)})
    assert form.status_code == 413
    # PNG bytes named .csv
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    wrong = post_raw(client, token, png, name="data.csv")
    assert wrong.status_code == 415 and "CSV" in wrong.json()["message"]
    # personnummer in a cell: refused, value never echoed
    pnr = fake_personnummer(np.random.default_rng(7), long_form=False)
    leaky = frame.copy()
    leaky.loc[leaky.index[3], "lokal_01" if "lokal_01" in leaky.columns else leaky.columns[-1]] = f"ring {pnr}"
    refused = post_raw(client, token, encode(leaky, "csv"))
    assert refused.status_code == 422 and refused.json()["error"] == "E_PERSONNUMMER"
    assert pnr not in refused.text and pnr.replace("-", "") not in refused.text
    assert "rad 5" in refused.json()["message"]
    assert nothing_written(paths)


def test_zip_bomb_refused(env, frame):
    paths, tokens, client = env
    bomb = zip_bomb_xlsx(encode(frame.head(5), "xlsx"), uncompressed_mb=210)
    assert len(bomb) < 2 * 1024 * 1024
    with zipfile.ZipFile(io.BytesIO(bomb)) as z:
        assert sum(i.file_size for i in z.infolist()) > 200 * 1024 * 1024
    response = post_raw(client, tokens["0114"], bomb, name="bomb.xlsx")
    assert response.status_code == 422 and "zip-bomb" in response.json()["message"]
    assert nothing_written(paths)


def _multipart(name: str, data: bytes) -> bytes:
    """A form body with the file name's raw bytes in the part header (requests would escape them)."""
    return (b'--XyZ\r\nContent-Disposition: form-data; name="period"\r\n\r\n2025Q3\r\n--XyZ\r\n'
            b'Content-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n\r\n'
            + data + b"\r\n--XyZ--\r\n")


def test_hostile_names_are_metadata_only(env, good_csv):
    paths, tokens, client = env
    form = {**auth(tokens["0114"]), "Content-Type": "multipart/form-data; boundary=XyZ"}
    for i, name in enumerate(["../../etc/passwd.csv", "..\\..\\windows\\evil.csv"]):
        assert post_raw(client, tokens["0114"], good_csv + b"\n" * (i + 1), name=name).status_code == 201
    for i, name in enumerate(["a\x00b.csv", "rad\tny\x1b[2J.csv", "rad\nny.csv"]):
        response = client.post("/api/v1/submissions", data=_multipart(name, good_csv + b"\n" * (i + 3)), headers=form)
        assert response.status_code == 201, response.text
    stored = {s.original_name for s in Register(paths).list()}
    assert stored == {"passwd.csv", "evil.csv", "ab.csv", "radny[2J.csv", "radny.csv"}
    assert not (paths.root / "etc").exists() and not (paths.restricted / "etc").exists()
    assert all(len(p.name) == 64 for p in paths.raw.rglob("*") if p.is_file())


def test_rate_limit(env, good_csv):
    paths, tokens, client = env
    codes = [post_raw(client, tokens["0114"], good_csv + b"\n" * i).status_code for i in range(9)]
    assert codes[:8] == [201] * 8 and codes[8] == 429
    limited = post_raw(client, tokens["0114"], good_csv)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 3000
    assert post_raw(client, tokens["0180"], good_csv).status_code == 201  # per token


def test_staff_form(env, good_csv):
    paths, tokens, client = env
    page = client.get("/upload")
    assert page.status_code == 200 and "Uppladdningsnyckel" in page.text and "Kvartal" in page.text
    ok = client.post("/upload", data={"token": tokens["0180"], "period": "2025Q3"},
                     files={"file": ("stockholm.csv", good_csv)})
    assert ok.status_code == 201 and "Inlämnings-id" in ok.text
    bad = client.post("/upload", data={"token": "fel", "period": "2025Q3"}, files={"file": ("x.csv", good_csv)})
    assert bad.status_code == 401 and "nyckel" in bad.text
    assert [s.kommunkod for s in Register(paths).list()] == ["0180"]


@pytest.mark.parametrize("name", ["Kvartal 3 – Linköping.csv", "ärende ✓ 2025.csv", 'citat "x".csv'])
def test_any_file_name_arrives_intact_from_the_client(env, good_csv, tmp_path, name):
    """HTTP headers are Latin-1: the client sends the name RFC 5987-encoded and the door decodes it."""
    import requests

    from pipeline.services.client import upload

    paths, tokens, client = env
    file = tmp_path / name
    file.write_bytes(good_csv + name.encode())
    receipt = upload(requests.Session(), client.base, tokens["0114"], file, "2025Q3")
    assert Register(paths).get(receipt["submission_id"]).original_name == name


def test_claimed_kommunkod_is_echoed_only_when_it_is_a_code(env, good_csv):
    paths, tokens, client = env
    for claimed, shown in (("0180", True), ("19121212-1212", False), ("<script>", False), ("0180 eller", False)):
        refused = post_raw(client, tokens["0114"], good_csv, kommunkod=claimed)
        assert refused.status_code == 403
        assert (claimed in refused.text) is shown, claimed
    assert nothing_written(paths)


def test_access_log_never_holds_request_fields(env):
    """uvicorn logs the request line; the query string is sender text and is cut off."""
    import logging

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "POST", "/api/v1/submissions?period=2025Q3&kommunkod=19121212-1212",
                                "1.1", 403), None)
    for handler_filter in logging.getLogger("uvicorn.access").filters:
        handler_filter.filter(record)
    assert "19121212" not in record.getMessage() and "/api/v1/submissions" in record.getMessage()
