"""A municipality's own feedback (återkoppling): its key figures, splits, local variables and trends.

Restricted: everything here is computed from one municipality's own staged cases and raw file,
without suppression, and is served only to that municipality's session (never published).
"""
