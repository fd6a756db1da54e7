"""Population 18+ per municipality, year and gender: the denominator of the three rate key figures.

The coordinator supplies SCB figures as a CSV (``kommunkod,year,gender,population``). dbt reads the
installed file directly, so it must always exist (a header-only file means "no population yet" and
the rates are published as missing, never guessed) and must be checked before it is installed:
a typo would silently change published rates.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from pathlib import Path

from pipeline.contract.dictionary import municipality_codes
from pipeline.contract.periods import FIRST_YEAR, LAST_YEAR
from pipeline.settings import Paths, paths

HEADER = ("kommunkod", "year", "gender", "population")
GENDERS = ("T", "K", "M")


class PopulationError(ValueError):
    """The supplied population file is not usable; ``errors`` lists every problem (Swedish, with line numbers)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("Befolkningsfilen kan inte användas:\n" + "\n".join(errors))


def ensure_population_file(paths: Paths) -> Path:
    """Create a header-only population file if none is installed, so the dbt source always exists."""
    target = paths.population_csv
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    return target


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PopulationError(["Filen är varken UTF-8 eller Windows-1252."])


def parse_population(text: str) -> list[tuple[str, int, str, int]]:
    """Validate the CSV text and return its rows; raises PopulationError listing every problem."""
    first_line = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != HEADER:
        got = ",".join(header) or "ingenting"
        raise PopulationError([f"Rad 1: rubrikraden ska vara {','.join(HEADER)} (fick {got})."])
    known = municipality_codes()
    errors: list[str] = []
    rows: list[tuple[str, int, str, int]] = []
    seen: dict[tuple[str, int, str], int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(HEADER):
            errors.append(f"Rad {line}: {len(cells)} fält, förväntade {len(HEADER)}.")
            continue
        kod, year_text, gender, pop_text = (c.strip() for c in cells)
        problems = []
        if kod not in known:
            problems.append(f"kommunkod '{kod}' är inte en av de 290 kommunerna (fyra siffror, inledande nolla)")
        year = int(year_text) if year_text.isdigit() else None
        if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
            problems.append(f"year '{year_text}' ska vara ett årtal {FIRST_YEAR}–{LAST_YEAR}")
        gender = gender.upper()
        if gender not in GENDERS:
            problems.append(f"gender '{gender}' ska vara T, K eller M")
        population = int(pop_text) if pop_text.isdigit() else None
        if population is None or population <= 0:
            problems.append(f"population '{pop_text}' ska vara ett positivt heltal")
        if problems:
            errors.append(f"Rad {line}: " + "; ".join(problems) + ".")
            continue
        key = (kod, year, gender)
        if key in seen:
            errors.append(f"Rad {line}: {kod} {year} {gender} finns redan på rad {seen[key]}.")
            continue
        seen[key] = line
        rows.append((kod, year, gender, population))
    if errors:
        raise PopulationError(errors)
    return rows


def load_population_csv(src: Path, paths: Paths) -> Path:
    """Validate a coordinator-supplied CSV and install it (atomically) as the population file dbt reads."""
    rows = parse_population(_decode(Path(src).read_bytes()))
    target = paths.population_csv
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(sorted(rows))
    os.replace(tmp, target)
    return target


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sukf population",
                                     description="Kontrollera och installera befolkningsfilen (18+).")
    parser.add_argument("csv", type=Path, help="CSV med kolumnerna kommunkod,year,gender,population")
    args = parser.parse_args(argv)
    try:
        target = load_population_csv(args.csv, paths())
    except PopulationError as exc:
        print(exc)
        return 1
    except OSError as exc:
        print(f"Kunde inte läsa filen: {exc.strerror}")
        return 1
    print(f"Installerade befolkningsfilen: {target}")
    return 0
