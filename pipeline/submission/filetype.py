"""The one decision "what kind of file is this?", shared by every door (precheck, upload, landing).

Why one module: the upload service and the reader used to sniff bytes with two different
magic-byte lists, so the same bytes could be refused at one door and read at another. Now the
format is decided here, from the bytes only (never the file name or a client's content type):
size, emptiness, known binary formats people send by mistake (with a specific hint), a NUL byte
*anywhere* (a text file never holds one; looking only at the first 64 KiB let a late one through),
and a zip archive means "workbook" – its inner structure is judged by ``xlsx_parts``.
"""

from __future__ import annotations

from pipeline.contract.dictionary import MAX_BYTES

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
UTF8_BOM = b"\xef\xbb\xbf"
# Known binary formats people send by mistake: give a specific hint instead of a parse error.
BINARY_MAGIC: dict[bytes, str] = {
    b"%PDF": "PDF",
    b"\x89PNG": "PNG-bild",
    b"\xff\xd8\xff": "JPEG-bild",
    b"GIF8": "GIF-bild",
    b"\x7fELF": "program (ELF)",
    b"MZ": "program (exe)",
    b"\xd0\xcf\x11\xe0": "äldre Excel (.xls), krypterad arbetsbok eller Word (.doc)",
    b"\x1f\x8b": "gzip-arkiv",
    b"Rar!": "RAR-arkiv",
    b"7z\xbc\xaf": "7z-arkiv",
    b"\xff\xfe": "UTF-16-text",
    b"\xfe\xff": "UTF-16-text",
}


class UnreadableFile(Exception):  # noqa: N818 - name fixed by the architecture contract
    """The file cannot be taken in as a submission; ``code`` is a rule code from pipeline.contract.rule_catalogue.

    The messages are written by this project only: they never contain a value from the file.
    """

    def __init__(self, code: str, message_sv: str, message_en: str):
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_sv = message_sv
        self.message_en = message_en


def not_table(sv: str, en: str) -> UnreadableFile:
    return UnreadableFile("E_NOT_CSV_XLSX", sv + " Spara som CSV eller .xlsx.", en + " Save as CSV or .xlsx.")


def sniff(data: bytes) -> str:
    """``"xlsx"`` or ``"csv"`` for bytes that may be a submission; raises UnreadableFile otherwise."""
    if len(data) > MAX_BYTES:
        raise UnreadableFile(
            "E_TOO_LARGE",
            f"Filen är {len(data) / 1024 / 1024:.1f} MB; största tillåtna storlek är "
            f"{MAX_BYTES // 1024 // 1024} MB.",
            f"The file is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_BYTES // 1024 // 1024} MB.",
        )
    if not data.strip(b" \t\r\n\x00" + UTF8_BOM):
        raise UnreadableFile("E_EMPTY_FILE", "Filen är tom.", "The file is empty.")
    if data.startswith(ZIP_MAGIC):
        return "xlsx"
    for magic, kind in BINARY_MAGIC.items():
        if data.startswith(magic):
            raise not_table(f"Filen ser ut att vara {kind}, inte CSV eller Excel.",
                            f"The file looks like {kind}, not CSV or XLSX.")
    if b"\x00" in data:
        raise not_table("Filen innehåller binära data (NUL-tecken) och är inte en textfil (CSV).",
                        "The file contains binary data (NUL bytes) and is not a text (CSV) file.")
    return "csv"
