-- Våldsformer as one row per case, quarter and code.
{{ multiselect_bridge('valdsformer', 'valdsform') }}
