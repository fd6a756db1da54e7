"""The validation rules of SUBMISSION.md, named once.

Each rule has a stable code (used in JSON reports, tests and the generator's ``--faults`` mode),
a severity (errors reject the submission, warnings are reported only) and Swedish guidance on how
to fix it. The checks themselves live in ``pipeline.validation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Severity
    title_sv: str
    title_en: str
    fix_sv: str


_RULES = (
    # --- file level -------------------------------------------------------------------------
    Rule("E_EMPTY_FILE", Severity.ERROR, "Filen är tom", "The file is empty",
         "Exportera filen igen med rubrikrad och minst en rad per ärende."),
    Rule("E_NOT_CSV_XLSX", Severity.ERROR, "Filen är inte CSV eller Excel (xlsx)", "File is not CSV or XLSX",
         "Spara som CSV (semikolonavgränsad) eller som Excel-arbetsbok (.xlsx) och skicka igen."),
    Rule("E_BROKEN_FILE", Severity.ERROR, "Filen är skadad och går inte att läsa", "The file is corrupt",
         "Öppna filen i Excel, spara den på nytt som .xlsx och skicka igen."),
    Rule("E_TOO_LARGE", Severity.ERROR, "Filen är för stor (över 50 MB)", "File larger than 50 MB",
         "Kontrollera att filen bara innehåller ett kvartals ärenden; ta bort bilder och extra blad."),
    Rule("E_TOO_MANY_ROWS", Severity.ERROR, "Filen har fler än 20 000 rader", "More than 20 000 rows",
         "En inlämning gäller en kommun och ett kvartal; dela inte ihop flera kvartal i samma fil."),
    Rule("E_TOO_MANY_COLUMNS", Severity.ERROR, "Filen har orimligt många kolumner",
         "The file has an unreasonable number of columns",
         "Använd mallens kolumner (högst 22 nationella och 10 lokala); ta bort extra kolumner och blad."),
    Rule("E_PERSONNUMMER", Severity.ERROR, "Filen innehåller något som liknar ett personnummer",
         "The file contains a value that looks like a personal identity number",
         "Ta bort personnummer/samordningsnummer ur filen. Använd bara det lokala ärende-id:t. "
         "Värdet visas inte här av sekretesskäl."),
    # --- columns and values -----------------------------------------------------------------
    Rule("E_MISSING_COLUMN", Severity.ERROR, "Obligatorisk kolumn saknas", "Required column missing",
         "Lägg till kolumnen med exakt detta namn (se mallen)."),
    Rule("E_REQUIRED_VALUE", Severity.ERROR, "Obligatoriskt värde saknas", "Required value missing",
         "Fyll i ett värde; använd 99 (okänt) om uppgiften inte finns."),
    Rule("E_UNKNOWN_CODE", Severity.ERROR, "Okänd kod", "Unknown code",
         "Använd en av koderna i kodlistan för variabeln (se mallens rullistor)."),
    Rule("E_BAD_DATE", Severity.ERROR, "Ogiltigt datum", "Invalid date",
         "Skriv datum som ÅÅÅÅ-MM-DD (eller ÅÅÅÅ-MM för aktualiseringsdatum)."),
    Rule("E_BAD_ID", Severity.ERROR, "Ogiltigt ärende-id", "Invalid case id",
         "Ärende-id får ha 1–40 tecken: bokstäver A–Z, siffror, _ och -."),
    Rule("E_WRONG_KOMMUN", Severity.ERROR, "Fel kommunkod", "Wrong municipality code",
         "Alla rader ska ha er egen fyrsiffriga kommunkod (med inledande nolla, t.ex. 0114)."),
    Rule("E_WRONG_PERIOD", Severity.ERROR, "Fel period", "Wrong period",
         "Alla rader ska ha inlämningens kvartal i formatet ÅÅÅÅKn, t.ex. 2025Q3."),
    Rule("E_DUPLICATE_ID", Severity.ERROR, "Ärende-id förekommer flera gånger", "Duplicate case id",
         "Varje ärende ska finnas på en rad. Slå ihop dubbletterna eller ge dem olika id."),
    Rule("E_CLOSED_BEFORE_OPENED", Severity.ERROR, "Avslutsdatum före aktualiseringsdatum",
         "Closing date before opening date", "Kontrollera båda datumen."),
    Rule("E_OPENED_AFTER_QUARTER", Severity.ERROR, "Aktualiseringsdatum efter kvartalets slut",
         "Opening date after the end of the quarter",
         "Ärenden som aktualiserats efter kvartalet hör till nästa kvartals inlämning."),
    Rule("E_CLOSED_MISSING_OUTCOME", Severity.ERROR, "Avslutat ärende saknar avslutsorsak eller måluppfyllelse",
         "Closed case lacks closing reason or goal attainment",
         "Fyll i avslutsorsak och måluppfyllelse för alla avslutade ärenden (99 = okänt)."),
    # --- warnings ---------------------------------------------------------------------------
    Rule("W_UNKNOWN_COLUMN", Severity.WARNING, "Okänd kolumn ignoreras", "Unknown column ignored",
         "Kontrollera stavningen; lokala variabler heter lokal_01 … lokal_10."),
    Rule("W_CLOSED_MISSING_FOLLOWUP", Severity.WARNING, "Avslutat ärende saknar uppföljningsuppgift",
         "Closed case lacks a follow-up answer", "Fyll i uppgiften (0 = ej besvarad, 99 = okänt)."),
    Rule("W_CLOSED_AFTER_QUARTER", Severity.WARNING, "Avslutsdatum efter kvartalets slut",
         "Closing date after the end of the quarter",
         "Inlämningen ska visa läget vid kvartalets slut; kontrollera datumet."),
    Rule("W_OPEN_LONG", Severity.WARNING, "Ärendet har varit öppet i mer än 3 år", "Case open for more than 3 years",
         "Kontrollera om ärendet borde ha avslutats."),
    Rule("W_UNKNOWN_SHARE", Severity.WARNING, "Hög andel okänt (99)", "High share of unknown (99)",
         "Mer än 20 % av ärendena har okänt värde; se om uppgiften kan fyllas i."),
    Rule("W_REAPPEARED", Severity.WARNING, "Ett ärende som avslutats tidigare finns med igen",
         "A case closed in an earlier quarter reappears",
         "Ett återöppnat ärende ska få ett nytt ärende-id; annars kontrollera avslutsdatumet."),
    Rule("W_DISAPPEARED", Severity.WARNING, "Ett pågående ärende från förra kvartalet saknas",
         "An open case of the previous quarter is missing",
         "Ärenden som var öppna förra kvartalet ska finnas med tills de avslutats (med avslutsdatum)."),
    Rule("W_COUNT_CHANGE", Severity.WARNING, "Antalet ärenden har ändrats mer än 50 % sedan förra kvartalet",
         "Number of cases changed by more than 50 % since the previous quarter",
         "Kontrollera att alla ärenden kommit med i exporten."),
    Rule("W_GOAL_WITHOUT_INSATS", Severity.WARNING, "Måluppfyllelse angiven men inga insatser",
         "Goal attainment given while no insats is recorded",
         "Fyll i insatserna, eller lämna måluppfyllelse tom om inga insatser getts."),
)

RULES: dict[str, Rule] = {r.code: r for r in _RULES}
