"""Personnummer detection: every cell, all accepted forms, no false alarms on dates/codes, never the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.validation.personnummer import contains_personnummer, find_personnummer, luhn_ok, mask

# 850312-1231 is Luhn-valid; 850372-1238 is the samordningsnummer form (day + 60).
POSITIVE = [
    "8503121231",
    "850312-1231",
    "850312+1231",
    "19850312-1231",
    "198503121231",
    "850372-1238",
    "20121212-1212",
    "ring 19850312-1231 imorgon",
    "pnr:850312-1231.",
    "x8503121231y",
]
NEGATIVE = [
    "2025-03-12",
    "20250312",
    "2025-03-12 10:00",
    "8503121230",  # Luhn fails
    "851312-1234",  # month 13
    "850332-1231",  # day 32 (and not 61-91)
    "17850312-1231",  # century 17
    "98503121231",  # 11 digits: no valid form
    "1985031212310",  # part of a longer digit run
    "FYS|PSY|SEX",
    "A0001234",
    "0114",
    "2025Q3",
    "070-123 45 67",
    "",
]


@pytest.mark.parametrize("text", POSITIVE)
def test_detects_every_form(text):
    assert contains_personnummer(text)
    masked = mask(text)
    assert "[dolt]" in masked and not contains_personnummer(masked)


@pytest.mark.parametrize("text", NEGATIVE)
def test_ignores_dates_codes_and_invalid_numbers(text):
    assert not contains_personnummer(text)
    assert mask(text) == text


def test_luhn():
    assert luhn_ok("8503121231")
    assert not luhn_ok("8503121232")


def test_positions_in_every_column_and_header_never_values():
    frame = pd.DataFrame({
        "kon": ["1", "850312-1231", "2"],
        "arende_id": ["A1", "A2", "198503121231"],
        "lokal_01": ["ok", "ring 850372-1238 idag", ""],
        "850312-1231": ["x", "y", "z"],  # a header can hold one too
    })
    hits = find_personnummer(frame)
    positions = {(h.row, h.column) for h in hits}
    assert positions == {(1, "kon"), (2, "arende_id"), (1, "lokal_01"), (None, None)}
    header = next(h for h in hits if h.row is None)
    assert header.column_index == 3
    assert "850312" not in repr(hits) and "850372" not in repr(hits)


def test_one_hit_per_cell_and_clean_frame_has_none():
    frame = pd.DataFrame({"lokal_01": ["850312-1231 och 850372-1238"], "kon": ["1"]})
    assert len(find_personnummer(frame)) == 1
    assert find_personnummer(pd.DataFrame({"a": ["2025-03-12", "FYS|PSY"], "b": ["0114", "A0000001"]})) == []
    assert find_personnummer(pd.DataFrame({"a": []})) == []


def test_full_size_file_scan_finds_the_one_hit():
    """Speed is measured by benchmarks/door_checks.py, not asserted here."""
    rng = np.random.default_rng(1)
    pool = ["1", "2", "99", "FYS|PSY", "2025-03-12", "A00123", "", "handläggare ring imorgon kl 10"]
    frame = pd.DataFrame({f"c{i:02d}": rng.choice(pool, 20_000) for i in range(35)}, dtype=object)
    frame.iloc[12_345, 30] = "anteckning 19850312-1231"
    hits = find_personnummer(frame)
    assert [(h.row, h.column) for h in hits] == [(12_345, "c30")]


@pytest.mark.parametrize("separator", ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212", "\ufe58",
                                       "\ufe63", "\uff0d", "\u00ad-", "\u200b", "\u2060-"])
def test_every_dash_class_and_invisible_character_is_seen_through(separator):
    text = f"ring 850312{separator}1231"
    assert contains_personnummer(text)
    assert "1231" not in mask(text)
    frame = pd.DataFrame({"lokal_01": ["x", text]}, dtype=object)
    assert [(h.row, h.column) for h in find_personnummer(frame)] == [(1, "lokal_01")]


@pytest.mark.parametrize("digits", [range(0xFF10, 0xFF1A), range(0x0660, 0x066A), range(0x0966, 0x0970),
                                    range(0x1D7CE, 0x1D7D8)])
def test_digits_of_any_script_count(digits):
    table = {str(i): chr(code) for i, code in enumerate(digits)}
    text = "".join(table.get(ch, ch) for ch in "850312-1231")
    assert not text.isascii() and contains_personnummer(text)


def test_normalise_leaves_swedish_text_alone():
    from pipeline.validation.personnummer import normalise

    text = "handläggare Åsa Öst – tolk behövs " * 50_000
    assert normalise(text) == text.replace("–", "-")
    assert normalise("åäö ÅÄÖ é") == "åäö ÅÄÖ é"


def test_candidate_windows_find_the_shapes_in_a_large_text():
    from pipeline.validation.personnummer import candidate_windows

    noise = '<c r="A12345"><v>0.30000000000000004</v></c><c r="B2" t="s"><v>2025-03-12</v></c>' * 2000
    assert candidate_windows(noise) == []
    for shape in ("8503121231", "198503121231", "850312-1231", "19850312+1231"):
        windows = candidate_windows(noise + f"<v>{shape}</v>" + noise)
        assert len(windows) == 1 and shape in windows[0]


# Pieces of hostile text: digits, dashes, references to digits/dashes/format characters/combining marks,
# full-width and other-script digits, compatibility forms that become digits, combining marks after
# ASCII letters and digits, soft hyphens, zero-width spaces, Swedish letters, broken references, GUID bits.
_PIECES = ["0", "1", "3", "5", "8", "12", "1234", "850312", "19850312", "-", "+", "a", "e", "F", "<", "=",
           "<v>", "</t>", " ", "&#48;", "&#x31;", "&#X32;", "&#8211;", "&#173;", "&#8203;", "&#769;", "&#x338;",
           "&#228;", "&#1234567;", "&#12345678;", "&#x110000;", "&#;", "&#", "&amp;", "é", "e\u0301",
           "\u0301", "\u0338", "８", "٣", "\xad", "\u200b", "²", "½", "①", "⑳", "\ufdfa", "\u2212", "–", "ä",
           "Ö", "\xa0", "\xb4", "€", "{8A3F0C12-", "-4B2A-", "9C1D-", "}", "𝟓"]


def _hostile_texts(count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60))) for _ in range(count)]


def test_latin1_folding_is_only_the_soft_hyphen():
    """Why ``normalise`` may drop only soft hyphens from Latin-1 text, and why normalising a part
    piece by piece equals normalising it whole: after NFKC, folding changes no other Latin-1 character."""
    import unicodedata

    from pipeline.validation.personnummer import _FOLD

    for code in range(0x100):
        text = unicodedata.normalize("NFKC", chr(code))
        if all(ord(c) < 0x100 for c in text):
            assert text.translate(_FOLD) == text.replace("\xad", ""), hex(code)


@pytest.mark.parametrize("dense", [None, 0])
def test_part_normalised_piece_by_piece_equals_the_whole_text(monkeypatch, dense):
    """The workbook scan normalises only the stretches of a part that can change (``_normalised_xml``):
    on thousands of hostile texts, and on them joined into one large part, the result is byte for byte
    the whole text normalised (references resolved, NFKC, digits and dashes folded). ``dense=0`` takes
    the piecewise way for every text, however dense its stretches."""
    from pipeline.submission import xlsx_parts
    from pipeline.submission.xlsx_parts import _CHAR_REF, _char, _normalised_xml
    from pipeline.validation.personnummer import normalise

    if dense is not None:
        monkeypatch.setattr(xlsx_parts, "_DENSE", dense)

    def whole(text: str) -> bytes:
        return normalise(_CHAR_REF.sub(_char, text)).encode("utf-8")

    texts = _hostile_texts(4000, seed=3)
    for text in texts:
        body = text.encode("utf-8")
        assert _normalised_xml(body) == whole(text), repr(text)
        assert _normalised_xml(b"\xef\xbb\xbf" + body) == whole(text)
    spread = ("x" * 200).join(texts)  # sparse stretches: the piecewise way (dense parts go whole)
    assert _normalised_xml(spread.encode("utf-8")) == whole(spread)
    assert _normalised_xml(b"<a>only ascii 850312-1231</a>") == b"<a>only ascii 850312-1231</a>"


def test_candidate_windows_equal_the_regex_over_every_digit_run():
    """The numpy search (six digits in a row first) finds exactly the runs the shapes describe:
    compared with a plain regex over every maximal digit run of many hostile texts."""
    import re

    from pipeline.validation.personnummer import candidate_windows, normalise

    def reference(text: str, margin: int) -> list[str]:
        raw = text.encode("utf-8")
        runs = [(m.start(), m.end()) for m in re.finditer(rb"[0-9]+", raw)]
        out = []
        for i, (start, end) in enumerate(runs):
            if end - start in (10, 12):
                out.append(raw[max(0, start - margin):end + margin].decode("utf-8", "ignore"))
            elif end - start in (6, 8) and i + 1 < len(runs) and runs[i + 1][0] == end + 1 \
                    and runs[i + 1][1] - runs[i + 1][0] == 4 and raw[end:end + 1] in (b"-", b"+"):
                out.append(raw[max(0, start - margin):runs[i + 1][1] + margin].decode("utf-8", "ignore"))
        return out

    texts = [normalise(t) for t in _hostile_texts(4000, seed=4)]
    assert sum(bool(reference(t, 5)) for t in texts) > 200
    for text in texts:
        assert candidate_windows(text, 5) == reference(text, 5), repr(text)
