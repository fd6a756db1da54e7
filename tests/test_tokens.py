"""Upload tokens: hashed at rest, verified in constant time, revocable."""

from __future__ import annotations

import pytest

from pipeline.services.tokens import TokenStore, main
from pipeline.settings import Paths


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SUKF_DATA_DIR", str(tmp_path))
    return TokenStore(Paths(tmp_path).ensure())


def test_issue_verify_revoke(store):
    info, token = store.issue("0114", "socialtjänsten")
    assert store.verify(token) == info and info.kommunkod == "0114"
    assert store.verify(token + "x") is None
    assert store.verify(info.token_id + ".wrong") is None
    assert store.verify("") is None and store.verify(None) is None and store.verify("garbage") is None
    assert token not in store.store.sqlite_path.read_bytes().decode("latin-1")  # only the hash is stored
    other_info, other = store.issue("0180")
    assert store.revoke(info.token_id) and not store.revoke(info.token_id)
    assert store.verify(token) is None and store.verify(other) == other_info
    assert [(t.token_id, t.active) for t in store.list()] == [(info.token_id, False), (other_info.token_id, True)]


def test_unknown_kommunkod_refused(store):
    with pytest.raises(ValueError):
        store.issue("9999")


def test_cli_prints_token_once(store, capsys):
    assert main(["issue", "--kommunkod", "0114", "--label", "test"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert store.verify(token).kommunkod == "0114"
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "0114" in listing and token not in listing and token.split(".")[1] not in listing
    assert main(["revoke", token.split(".")[0]]) == 0
    assert store.verify(token) is None
    assert main(["revoke", "nope"]) == 1
    assert main(["issue", "--kommunkod", "12"]) == 2
