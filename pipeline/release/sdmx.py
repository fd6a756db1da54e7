"""SDMX-CSV 2.0 data and an SDMX-ML 3.0 data structure definition (DSD) for a vintage's published cells.

WHY SDMX beside the Kolada files: statistical offices and tools (Eurostat's, .Stat Suite, pysdmx,
sdmx1, R's rsdmx) read SDMX without knowing Kolada; the DSD says what every column and code means, so
a ".." is machine-readable as "confidential" and a preliminary year as "provisional" instead of a
footnote. Both functions are pure and byte-deterministic (sorted rows, no clock, fixed header), like
the Kolada files, so the publisher can compare bytes between vintages.

Mapping of Kolada's status to SDMX's cross-domain code lists:

===========================  =================  ============  ===========
published cell               OBS_VALUE          OBS_STATUS    CONF_STATUS
===========================  =================  ============  ===========
value, final year            the value          A (normal)    F (free)
value, preliminary year      the value          P (prov.)     F
``..`` hidden                empty              A or P        C (confidential)
``-`` not submitted          empty              O (missing)   F
``.`` not applicable         empty              M (cannot     F
                                                exist)
===========================  =================  ============  ===========

A hidden cell is "C" whether it was hidden for few cases or to protect another cell: the release does
not say which (saying it would help an intruder), so neither does the SDMX file.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML here, never parse untrusted input

import pandas as pd

from pipeline.contract import kpis
from pipeline.contract.dictionary import RIKET_ID, RIKET_NAME, counties, municipality_names

AGENCY = "SUKF"
VERSION = "1.0"
DSD_ID = "DSD_SUKF_NYCKELTAL"
CONCEPTS_ID = "CS_SUKF"
STRUCTURE_ID = f"{AGENCY}:{DSD_ID}({VERSION})"
PREPARED = "2026-12-01T00:00:00Z"
"""The day version 1.0 of this structure was defined: a constant so the file is byte-stable."""

DIMENSIONS = ("KPI", "REF_AREA", "GENDER", "TIME_PERIOD")
ATTRIBUTES = ("OBS_STATUS", "CONF_STATUS")
CSV_HEADER = ("STRUCTURE", "STRUCTURE_ID", "ACTION", *DIMENSIONS, "OBS_VALUE", *ATTRIBUTES)

OBS_STATUS = {"A": "Normalt värde", "P": "Preliminärt värde", "O": "Värde saknas (ej inrapporterat)",
              "M": "Värde saknas (kan inte finnas)"}
CONF_STATUS = {"F": "Fritt för publicering", "C": "Konfidentiellt (skyddat värde, visas som ..)"}
GENDERS = {"T": "Totalt", "K": "Kvinnor", "M": "Män"}

_NS = {"mes": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message",
       "str": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure",
       "com": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/common",
       "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
for _prefix, _uri in _NS.items():
    ET.register_namespace(_prefix, _uri)


def sdmx_period(period: str) -> str:
    """Kolada's ``2025`` / ``2025Q3`` as SDMX's ``2025`` / ``2025-Q3``."""
    text = str(period)
    return f"{text[:4]}-{text[4:]}" if len(text) == 6 and text[4] == "Q" else text


def _observation(status: str, value: float, preliminary: bool) -> tuple[str, str, str]:
    """(OBS_VALUE, OBS_STATUS, CONF_STATUS) of one published cell, per the table in the module doc."""
    normal = "P" if preliminary else "A"
    if status == "":
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "", "O", "F"  # a published cell always has a value; defensive only
        return repr(round(float(value), 1)), normal, "F"
    if status == "..":
        return "", normal, "C"
    if status == ".":
        return "", "M", "F"
    return "", "O", "F"


def sdmx_csv(cells: pd.DataFrame) -> bytes:
    """SDMX-CSV 2.0 of ``cells`` (the frame of ``pipeline.release.cells.published_cells``), one row per
    kpi × area × gender × period, sorted by those keys."""
    order = {g: i for i, g in enumerate(("T", "K", "M"))}
    frame = cells.assign(_period=cells["period"].astype(str), _g=cells["gender"].map(order))
    frame = frame.sort_values(["kpi", "municipality", "_g", "_period"], kind="stable")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    columns = [frame[c].tolist() for c in ("kpi", "municipality", "gender", "_period", "value", "status",
                                           "preliminary")]
    for kpi, area, gender, period, value, status, prel in zip(*columns, strict=True):
        obs, obs_status, conf = _observation(str(status), value, bool(prel))
        writer.writerow(("datastructure", STRUCTURE_ID, "I", kpi, area, gender, sdmx_period(period), obs,
                         obs_status, conf))
    return buffer.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------- DSD


def _q(prefix: str, tag: str) -> str:
    return f"{{{_NS[prefix]}}}{tag}"


def _name(parent: ET.Element, text: str, tag: str = "Name") -> None:
    node = ET.SubElement(parent, _q("com", tag))
    node.set("{http://www.w3.org/XML/1998/namespace}lang", "sv")
    node.text = text


def _codelist(parent: ET.Element, cl_id: str, title: str, codes: dict[str, str]) -> None:
    node = ET.SubElement(parent, _q("str", "Codelist"), {"id": cl_id, "version": VERSION, "agencyID": AGENCY,
                                                        "isExternalReference": "false", "isPartial": "false"})
    _name(node, title)
    for code, label in codes.items():
        item = ET.SubElement(node, _q("str", "Code"), {"id": code})
        _name(item, label)


def _concept_urn(concept: str) -> str:
    return f"urn:sdmx:org.sdmx.infomodel.conceptscheme.Concept={AGENCY}:{CONCEPTS_ID}({VERSION}).{concept}"


def _codelist_urn(cl_id: str) -> str:
    return f"urn:sdmx:org.sdmx.infomodel.codelist.Codelist={AGENCY}:{cl_id}({VERSION})"


def _component(parent: ET.Element, tag: str, comp_id: str, attrs: dict[str, str], *, codelist: str | None,
               text_type: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, _q("str", tag), {**attrs, "id": comp_id})
    ET.SubElement(node, _q("str", "ConceptIdentity")).text = _concept_urn(comp_id)
    rep = ET.SubElement(node, _q("str", "LocalRepresentation"))
    if codelist:
        ET.SubElement(rep, _q("str", "Enumeration")).text = _codelist_urn(codelist)
    else:
        ET.SubElement(rep, _q("str", "TextFormat"), {"textType": text_type} if text_type else {})
    return node


def area_codes() -> dict[str, str]:
    """Kommuner, län and Riket with Kolada's ids."""
    out = dict(municipality_names())
    out.update(counties())
    out[RIKET_ID] = RIKET_NAME
    return dict(sorted(out.items()))


def sdmx_structure() -> bytes:
    """SDMX-ML 3.0 structure message: code lists, concepts and the DSD the CSV refers to."""
    root = ET.Element(_q("mes", "Structure"))
    root.set(_q("xsi", "schemaLocation"),
             f"{_NS['mes']} https://registry.sdmx.org/schemas/v3_0/SDMXMessage.xsd")
    header = ET.SubElement(root, _q("mes", "Header"))
    ET.SubElement(header, _q("mes", "ID")).text = f"{DSD_ID}_{VERSION.replace('.', '_')}"
    ET.SubElement(header, _q("mes", "Test")).text = "false"
    ET.SubElement(header, _q("mes", "Prepared")).text = PREPARED
    ET.SubElement(header, _q("mes", "Sender"), {"id": AGENCY})
    structures = ET.SubElement(root, _q("mes", "Structures"))

    lists = ET.SubElement(structures, _q("str", "Codelists"))
    _codelist(lists, "CL_KPI", "Nyckeltal SU-kvinnofrid",
              {k.id: f"{k.title} ({k.unit_label})" for k in sorted(kpis.KPIS, key=lambda k: k.id)})
    _codelist(lists, "CL_AREA", "Kommuner, län (Koladas id) och riket", area_codes())
    _codelist(lists, "CL_GENDER", "Kön (T = totalt, K = kvinnor, M = män)", GENDERS)
    _codelist(lists, "CL_OBS_STATUS", "Observationsstatus", OBS_STATUS)
    _codelist(lists, "CL_CONF_STATUS", "Sekretesstatus", CONF_STATUS)

    schemes = ET.SubElement(structures, _q("str", "ConceptSchemes"))
    scheme = ET.SubElement(schemes, _q("str", "ConceptScheme"), {
        "id": CONCEPTS_ID, "version": VERSION, "agencyID": AGENCY, "isExternalReference": "false",
        "isPartial": "false"})
    _name(scheme, "Begrepp SU-kvinnofrid")
    for concept, label in (("KPI", "Nyckeltal"), ("REF_AREA", "Område (kommun, län, riket)"), ("GENDER", "Kön"),
                           ("TIME_PERIOD", "Period (år eller kvartal)"), ("OBS_VALUE", "Värde"),
                           ("OBS_STATUS", "Observationsstatus"), ("CONF_STATUS", "Sekretesstatus")):
        _name(ET.SubElement(scheme, _q("str", "Concept"), {"id": concept}), label)

    dsds = ET.SubElement(structures, _q("str", "DataStructures"))
    dsd = ET.SubElement(dsds, _q("str", "DataStructure"), {"id": DSD_ID, "version": VERSION, "agencyID": AGENCY,
                                                          "isExternalReference": "false"})
    _name(dsd, "Nyckeltal om stöd till våldsutsatta vuxna (SU-kvinnofrid)")
    components = ET.SubElement(dsd, _q("str", "DataStructureComponents"))
    dims = ET.SubElement(components, _q("str", "DimensionList"))
    for position, (dim, codelist) in enumerate((("KPI", "CL_KPI"), ("REF_AREA", "CL_AREA"),
                                                ("GENDER", "CL_GENDER")), start=1):
        _component(dims, "Dimension", dim, {"position": str(position)}, codelist=codelist)
    _component(dims, "TimeDimension", "TIME_PERIOD", {}, codelist=None, text_type="ObservationalTimePeriod")
    attrs = ET.SubElement(components, _q("str", "AttributeList"))
    for attr, codelist in (("OBS_STATUS", "CL_OBS_STATUS"), ("CONF_STATUS", "CL_CONF_STATUS")):
        node = _component(attrs, "Attribute", attr, {"usage": "mandatory"}, codelist=codelist)
        relation = ET.SubElement(node, _q("str", "AttributeRelationship"))
        ET.SubElement(relation, _q("str", "Observation"))
    measures = ET.SubElement(components, _q("str", "MeasureList"))
    _component(measures, "Measure", "OBS_VALUE", {}, codelist=None, text_type="Double")
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
