"""An XLSX file as a zip of parts: judge its structure, and scan every part for identity numbers.

Why straight from the zip and not through a spreadsheet library: a reader of cell values sees one
sheet's cached values, while a person (or the next program) can see much more – other and hidden
sheets, sheet names, comments, formulas' text, defined names, document properties, custom XML,
part names, and numbers shown through a number format (``503121234`` formatted ``000000-0000`` is
*seen* as ``050312-1234``). So the privacy scan reads every part's text as stored:

* every member name, and every XML part after resolving character references (``&#8211;``) and
  Unicode normalisation (``personnummer.normalise``); when rich-text runs are present the text is
  also scanned with the runs joined, so splitting a number over two runs does not hide it;
* every number in a worksheet whose cell style has a custom, non-date number format, rendered
  through that format (zero padding and literal characters);
* binary parts (images, printer settings) as Latin-1 text.

A candidate inside a GUID (``8-4-4-4-12`` hex, Excel's internal ids) does not count: random hex
would otherwise now and then look like a date followed by four digits.

Structure: only the content types of a plain workbook are allowed. Macros (``vbaProject``, the
macro-enabled main part), ActiveX controls, embedded OLE objects or packages and external links
are refused with a clear Swedish message, as is a zip bomb (judged on the central directory
before anything is decompressed) or an XML part with a DOCTYPE (entity expansion).

Hits are returned as *descriptions of places* built from this module's own words and part
numbers – never a value, sheet name or part name, because those are exactly what may be personal.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.submission.filetype import UnreadableFile, not_table
from pipeline.validation.personnummer import candidate_windows_utf8, contains_personnummer, normalise, spans

# Zip-bomb limits (checked on the central directory before decompressing anything).
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 100  # total uncompressed / total compressed; only checked above RATIO_FLOOR bytes
RATIO_FLOOR = 10 * 1024 * 1024
MAX_ZIP_ENTRIES = 1_000
MAX_ZIP_ENTRY = 100 * 1024 * 1024  # one member

_SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml."
_OFFICE = "application/vnd.openxmlformats-officedocument."
ALLOWED_CONTENT_TYPES = frozenset({
    _SPREADSHEET + t for t in (
        "sheet.main+xml", "worksheet+xml", "chartsheet+xml", "sharedStrings+xml", "styles+xml", "comments+xml",
        "table+xml", "calcChain+xml", "printerSettings", "sheetMetadata+xml", "volatileDependencies+xml",
        "tableSingleCells+xml", "template.main+xml", "pivotTable+xml", "pivotCacheDefinition+xml",
        "pivotCacheRecords+xml", "queryTable+xml", "revisionHeaders+xml", "revisionLog+xml", "userNames+xml")
} | {
    _OFFICE + t for t in (
        "theme+xml", "drawing+xml", "drawingml.chart+xml", "drawingml.chartshapes+xml", "vmlDrawing",
        "custom-properties+xml", "extended-properties+xml", "customXmlProperties+xml", "themeOverride+xml")
} | {
    "application/vnd.openxmlformats-package.core-properties+xml",
    "application/vnd.openxmlformats-package.relationships+xml",
    "application/vnd.openxmlformats-package.digital-signature-xmlsignature+xml",
    "application/vnd.openxmlformats-package.digital-signature-origin",
    "application/vnd.ms-excel.threadedcomments+xml", "application/vnd.ms-excel.person+xml",
    # Excel 365 rich values (pictures in cells, data types) and slicers
    "application/vnd.ms-excel.rdrichvalue+xml", "application/vnd.ms-excel.rdrichvaluestructure+xml",
    "application/vnd.ms-excel.rdarray+xml", "application/vnd.ms-excel.rdsupportingpropertybag+xml",
    "application/vnd.ms-excel.rdsupportingpropertybagstructure+xml", "application/vnd.ms-excel.rdrichvaluetypes+xml",
    "application/vnd.ms-excel.richvaluerel+xml", "application/vnd.ms-excel.slicer+xml",
    "application/vnd.ms-excel.slicerCache+xml", "application/vnd.ms-excel.timeline+xml",
    "application/vnd.ms-excel.timelineCache+xml",
    "application/vnd.ms-office.chartstyle+xml", "application/vnd.ms-office.chartcolorstyle+xml",
    "application/xml", "text/xml",
    "image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/x-emf", "image/x-wmf",
    "image/svg+xml",
})
_MACRO_HINTS = ("vbaproject", "macroenabled", "activex", "oleobject", "/embeddings/", "ctrlprop", "externallink",
                "vnd.ms-office.vba", "vbadata", "/macrosheets/", "dialogsheet")
_GUID = re.compile(r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?")
_DEFAULT = re.compile(r'<Default\b[^>]*?Extension="([^"]*)"[^>]*?ContentType="([^"]*)"')
_OVERRIDE = re.compile(r'<Override\b[^>]*?PartName="([^"]*)"[^>]*?ContentType="([^"]*)"')
_CHAR_REF = re.compile(r"&#([xX][0-9a-fA-F]{1,6}|[0-9]{1,7});")
_GUID_CONTEXT = 40
_RICH_RUN = re.compile(rb"<r[ >]")  # one pass (two ``in`` tests read a 25 MB sheet twice)
_INNER_TAGS = re.compile(r"<(?!/?(?:si|comment|threadedComment|is)\b)[^>]*>")
_NUM_FMT = re.compile(r'<numFmt\b[^>]*?numFmtId="(\d+)"[^>]*?formatCode="([^"]*)"')
_CELL_XFS = re.compile(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", re.S)
_XF = re.compile(r"<xf\b([^>]*)>|<xf\b([^>]*)/>")
_XF_FMT = re.compile(r'numFmtId="(\d+)"')
_FIRST_CUSTOM_FORMAT = 164  # ids below are built-in formats (plain numbers, dates, text)
_DATE_CODES = re.compile(r"[yYmMdDhHsS]")
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]|_.|\*.')


@dataclass(frozen=True)
class Opened:
    """A workbook whose structure passed: the archive and each member's content type."""

    archive: zipfile.ZipFile
    content_types: dict[str, str]


def _broken() -> UnreadableFile:
    return UnreadableFile("E_BROKEN_FILE",
                          "Excel-filen är skadad eller ofullständig och går inte att läsa. "
                          "Öppna den i Excel, spara på nytt som .xlsx och skicka igen.",
                          "The XLSX file is corrupt or truncated.")


def broken() -> UnreadableFile:
    return _broken()


def _not_plain(detail_sv: str, detail_en: str) -> UnreadableFile:
    return UnreadableFile(
        "E_NOT_CSV_XLSX",
        f"Arbetsboken innehåller {detail_sv} och tas inte emot. Spara den i Excel som en vanlig "
        "Excel-arbetsbok (.xlsx, utan makron) eller exportera som CSV och skicka igen.",
        f"The workbook contains {detail_en} and is not accepted; save as a plain .xlsx or CSV.",
    )


def open_workbook(data: bytes) -> Opened:
    """Open the archive, refuse zip bombs and anything that is not a plain workbook."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _broken() from exc
    uncompressed = sum(i.file_size for i in infos)
    compressed = sum(i.compress_size for i in infos) or 1
    if (len(infos) > MAX_ZIP_ENTRIES or uncompressed > MAX_UNCOMPRESSED
            or any(i.file_size > MAX_ZIP_ENTRY for i in infos)
            or (uncompressed > RATIO_FLOOR and uncompressed / compressed > MAX_RATIO)):
        raise UnreadableFile(
            "E_BROKEN_FILE",
            "Excel-filen packas upp till orimligt mycket data (möjlig zip-bomb) och läses inte. "
            "Spara om filen i Excel som .xlsx eller exportera som CSV.",
            "The XLSX file expands to an unreasonable size (possible zip bomb) and was not read.",
        )
    if any(i.flag_bits & 0x1 for i in infos):
        raise _not_plain("krypterade delar", "encrypted parts")
    names = [i.filename for i in infos if not i.is_dir()]
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        raise not_table("Filen är ett zip-arkiv men inte en Excel-arbetsbok (.xlsx).",
                        "The file is a zip archive but not an Excel workbook.")
    types = _content_types(archive, names)
    for name in names:
        kind = types.get(name, "")
        lowered = f"/{name.lower()} {kind.lower()}"
        if any(hint in lowered for hint in _MACRO_HINTS):
            raise _not_plain("makron, ActiveX-kontroller, inbäddade objekt eller externa länkar",
                             "macros, ActiveX controls, embedded objects or external links")
        if name != "[Content_Types].xml" and kind not in ALLOWED_CONTENT_TYPES:
            raise _not_plain("delar av en typ som inte hör till en vanlig arbetsbok",
                             "parts of a type that a plain workbook does not have")
    return Opened(archive, types)


def _content_types(archive: zipfile.ZipFile, names: list[str]) -> dict[str, str]:
    try:
        text = archive.read("[Content_Types].xml").decode("utf-8-sig")
    except (UnicodeDecodeError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _broken() from exc
    defaults = {ext.lower(): kind for ext, kind in _DEFAULT.findall(text)}
    overrides = {part.lstrip("/"): kind for part, kind in _OVERRIDE.findall(text)}
    if any(any(h in kind.lower() for h in _MACRO_HINTS) for kind in [*defaults.values(), *overrides.values()]):
        raise _not_plain("makron (arbetsboken är av typen .xlsm)", "macros (the workbook is an .xlsm)")
    return {name: overrides.get(name) or defaults.get(name.rsplit(".", 1)[-1].lower(), "") for name in names}


# --- the privacy scan -------------------------------------------------------------------------

def _place(name: str, sheet_numbers: dict[str, int]) -> str:
    """A safe Swedish description of where a part sits (never its name: that may be personal)."""
    lowered = name.lower()
    if name in sheet_numbers:
        return f"kalkylblad nr {sheet_numbers[name]}"
    if lowered == "xl/workbook.xml":
        return "bladnamn eller definierade namn"
    if lowered.startswith("xl/sharedstrings"):
        return "textvärden i cellerna"
    if "comment" in lowered or "vmldrawing" in lowered:
        return "kommentarer"
    if lowered.startswith("docprops/"):
        return "dokumentegenskaper"
    if lowered.startswith("customxml/"):
        return "anpassad XML"
    if lowered.startswith("xl/chartsheets/") or lowered.startswith("xl/charts/"):
        return "diagram"
    return "en annan del av arbetsboken"


def _decode(body: bytes) -> str:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.decode("utf-16")
    return body.decode("utf-8-sig")


def _is_xml(name: str, kind: str) -> bool:
    return kind.endswith("xml") or name.lower().endswith((".xml", ".rels", ".vml"))


def _texts(name: str, body: bytes, kind: str) -> Iterator[bytes]:
    """The part's text as a person or program would read it, in forms the scan can search (UTF-8)."""
    if not _is_xml(name, kind):
        yield body.decode("latin-1").encode("utf-8")
        return
    raw = _normalised_xml(body)
    yield raw
    if _RICH_RUN.search(raw):  # rich-text runs ("<r>" or "<r "): join the runs of one item
        yield _INNER_TAGS.sub("", raw.decode("utf-8")).encode("utf-8")


def _normalised_text(text: str) -> str:
    """An XML part's text with character references resolved, as a person reads it (``normalise``)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise _not_plain("XML med dokumenttypdeklaration (DOCTYPE)", "XML with a DOCTYPE declaration")
    if "&#" in text:  # character references can spell digits and dashes; the named five cannot
        text = _CHAR_REF.sub(_char, text)
    return normalise(text)


_REF_SPAN = 11
"""Bytes from a reference's ``&`` that cover it (``&#1114111;`` and ``&#x10FFFF;`` are 10)."""
_DENSE = 64
"""Above one changed stretch per this many bytes, the whole part is normalised at once (C speed)
rather than stretch by stretch (a Python step each)."""


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _broken() from exc


def _normalised_xml(body: bytes) -> bytes:
    """``_normalised_text`` of the decoded part, as UTF-8, normalising only the stretches it can change.

    Why: a 20 000-row sheet is 25 MB, nearly all ASCII, and resolving its tens of thousands of
    references (``&#228;``) and normalising the whole text cost most of the scan. Normalisation
    changes only non-ASCII characters and references, and it can be done piece by piece where a
    piece starts with an ASCII character that is not inside a reference: such a character is
    unchanged and starts a new normalisation segment (NFKC never composes it with what precedes),
    and folding digits, dashes and format characters is per character. So each stretch of non-ASCII
    bytes and references, with the one character before it (a combining mark composes with it), is
    normalised on its own, each distinct stretch once, and the ASCII between is kept as it is. The
    result equals normalising the whole decoded text (``tests/test_personnummer.py`` compares both on
    many hostile texts); UTF-16 parts and parts dense with such stretches take the whole-text way.
    """
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _normalised_text(_decode(body)).encode("utf-8")
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise _not_plain("XML med dokumenttypdeklaration (DOCTYPE)", "XML with a DOCTYPE declaration")
    codes = np.frombuffer(body, dtype=np.uint8)
    n = len(codes)
    none = np.empty(0, dtype=np.intp)
    # bytes.isascii and ``in`` run at memory speed, a numpy pass over a 25 MB sheet takes ~5 ms: a sheet
    # Excel wrote with shared strings is ASCII, and most parts hold no character reference.
    high = none if body.isascii() else np.flatnonzero(codes >= 0x80)
    refs = np.flatnonzero(codes == 38) if b"&#" in body else none  # "&", then "#" after it
    refs = refs[codes[np.minimum(refs + 1, n - 1)] == 35] if len(refs) else refs
    if not len(high) and not len(refs):
        return body  # ASCII without references: already as a person reads it
    if (len(high) + len(refs)) * _DENSE > n:
        return _normalised_text(_utf8(body)).encode("utf-8")
    # Each stretch as an interval [start, end): a non-ASCII byte or a reference, with the character
    # before it; overlapping or touching intervals are merged (one stretch).
    firsts = np.concatenate((high, refs))
    order = np.argsort(firsts, kind="stable")
    lows = np.maximum(firsts[order] - 1, 0)
    highs = np.minimum(np.concatenate((high + 1, refs + _REF_SPAN))[order], n)
    reach = np.maximum.accumulate(highs)
    new = np.concatenate(([True], lows[1:] > reach[:-1]))
    starts = lows[new].tolist()
    ends = reach[np.concatenate((np.flatnonzero(new)[1:] - 1, [len(new) - 1]))].tolist()
    done: dict[bytes, bytes] = {}
    pieces = []
    kept = 0
    for start, end in zip(starts, ends, strict=True):
        stretch = body[start:end]
        out = done.get(stretch)
        if out is None:
            out = done[stretch] = _normalised_text(_utf8(stretch)).encode("utf-8")
        pieces += (body[kept:start], out)
        kept = end
    pieces.append(body[kept:])
    return b"".join(pieces)


def _char(match: re.Match[str]) -> str:
    return _char_of(match.group(1))


@lru_cache(maxsize=4096)  # bounded: a hostile part may hold millions of distinct references
def _char_of(ref: str) -> str:
    """One character reference's character (a sheet repeats a few, e.g. å, ä, ö, thousands of times)."""
    try:
        return chr(int(ref[1:], 16) if ref[0] in "xX" else int(ref))
    except (ValueError, OverflowError):
        return " "


def _holds_personnummer(raw: bytes) -> bool:
    """A personnummer-like part of normalised text (UTF-8 ``raw``) that is not inside one of Excel's GUIDs.

    Candidates come from ``candidate_windows_utf8`` (numpy over the bytes); the GUID test runs only
    around them (blanking GUIDs in a 25 MB sheet first cost 0.6 s).
    """
    for window in candidate_windows_utf8(raw, _GUID_CONTEXT):
        for start, end in spans(window):
            if not any(g.start() <= start and end <= g.end() for g in _GUID.finditer(window)):
                return True
    return False


def _number_formats(archive: zipfile.ZipFile) -> dict[int, str]:
    """Style index -> custom, non-date number format code (the only formats that can add digits)."""
    try:
        styles = _decode(archive.read("xl/styles.xml"))
    except KeyError:
        return {}
    except UnicodeDecodeError as exc:
        raise _broken() from exc
    codes = {int(i): html.unescape(code) for i, code in _NUM_FMT.findall(styles)}
    block = _CELL_XFS.search(styles)
    out: dict[int, str] = {}
    for index, match in enumerate(_XF.finditer(block.group(1) if block else "")):
        fmt = _XF_FMT.search(match.group(1) or match.group(2) or "")
        number = int(fmt.group(1)) if fmt else 0
        code = codes.get(number)
        if number >= _FIRST_CUSTOM_FORMAT and code and not _DATE_CODES.search(_FORMAT_NOISE.sub("", code)):
            out[index] = code
    return out


def render_integer(value: int, code: str) -> str:
    """An integer shown through an Excel number format's first section (placeholders and literals).

    Enough for what can make an identity number appear: zero padding (``0``), optional digits
    (``#``, ``?``) and literal text (``"…"``, ``\\-``, plain ``-``); colours and conditions are dropped.
    """
    section = re.split(r'(?<!\\);', code, maxsplit=1)[0]
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            tokens.append(("lit", section[i + 1:end]))
            i = end + 1
        elif ch == "\\" and i + 1 < len(section):
            tokens.append(("lit", section[i + 1]))
            i += 2
        elif ch == "[":
            end = section.find("]", i)
            i = len(section) if end < 0 else end + 1
        elif ch in "_*":
            i += 2
        elif ch in "0#?":
            tokens.append(("ph", ch))
            i += 1
        elif ch == ",":
            i += 1  # thousands separator or scaling: not a digit source
        else:
            tokens.append(("lit", ch))
            i += 1
    digits = list(str(abs(value)))
    out: list[str] = []
    placeholders = [k for k, (kind, _) in enumerate(tokens) if kind == "ph"]
    if not placeholders:
        return "".join(t for _, t in tokens)
    for k in reversed(range(len(tokens))):
        kind, text = tokens[k]
        if kind == "lit":
            out.append(text)
            continue
        if digits:
            out.append(digits.pop())
        elif text == "0":
            out.append("0")
        elif text == "?":
            out.append(" ")
        if k == placeholders[0] and digits:
            out.append("".join(digits))
            digits = []
    return ("-" if value < 0 else "") + "".join(reversed(out))


def _formatted_numbers(sheet: str, formats: dict[int, str]) -> Iterator[str]:
    """Numbers of cells styled with one of ``formats``, rendered through their format."""
    if not formats:
        return
    styles = "|".join(str(s) for s in sorted(formats))
    pattern = re.compile(r'<c\b[^>]*?\bs="(' + styles + r')"[^>]*>(?:(?!</c>).)*?<v>([^<]*)</v>', re.S)
    for match in pattern.finditer(sheet):
        try:
            number = float(match.group(2))
        except ValueError:
            continue
        if number.is_integer() and abs(number) < 1e16:
            yield render_integer(int(number), formats[int(match.group(1))])


def scan_opened(opened: Opened) -> list[str]:
    """Descriptions of every place in the workbook holding a personnummer-like value (no values)."""
    archive = opened.archive
    sheets = sorted((n for n, k in opened.content_types.items() if k == _SPREADSHEET + "worksheet+xml"),
                    key=lambda n: (len(n), n))
    sheet_numbers = {name: i + 1 for i, name in enumerate(sheets)}
    formats = _number_formats(archive)
    places: list[str] = []

    def hit(place: str) -> None:
        if place not in places:
            places.append(place)

    for name, kind in opened.content_types.items():
        if contains_personnummer(normalise(name)):
            hit("namnet på en del i arkivet")
        try:
            body = archive.read(name)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise _broken() from exc
        for text in _texts(name, body, kind):
            if _holds_personnummer(text):
                hit(_place(name, sheet_numbers))
                break
        if name in sheet_numbers and formats:
            text = _decode(body)
            if any(contains_personnummer(shown) for shown in _formatted_numbers(text, formats)):
                hit(f"kalkylblad nr {sheet_numbers[name]} (tal som visas genom sitt talformat)")
    return places


def scan_workbook_parts(data: bytes) -> list[str]:
    """Open (structure checks) and scan; for the benchmark and tests."""
    opened = open_workbook(data)
    try:
        return scan_opened(opened)
    finally:
        opened.archive.close()
