"""The published table design (issue 9): which levels of the key figures are published at all.

WHY a module of its own in the contract: the disclosure control applies it (``pipeline.keyfigures.disclosure.
table_design``), the release notes state it and the comparison page shows it; the page's server must not import
the disclosure machinery (HiGHS, SciPy) to say it.
"""

TABLE_DESIGN_SV = (
    "Tabellplan: kommuner redovisas per helt kalenderår och totalt (inte per kön, inte per kvartal), "
    "eftersom män och annat/okänt kön nästan alltid är 1–4 ärenden per kommun och år; SUKF18 redovisas inte "
    "per kommun (det följer av SUKF02 × SUKF01, och tillsammans skulle de visa antalet ärenden utan insats). "
    "Län och riket "
    "redovisas per kvartal och helt år, per kön. Ett pågående år redovisas inte (inga värden för året "
    "hittills), så att två årgångar inte kan subtraheras. Värden som publicerats i tidigare årgångar räknas "
    "som kända."
)
"""The table design in one paragraph: which levels are published and why. Shown in each vintage's release notes
and manifest (``pipeline.release``) and on the comparison page and in its downloads (``services.tables.FOOTNOTES``).
The reasoning and the numbers behind it: docs/DISCLOSURE.md."""
