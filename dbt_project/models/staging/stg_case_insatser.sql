-- Insatser as one row per case, quarter and code. NULL insatser = no insats yet = no rows.
{{ multiselect_bridge('insatser', 'insats') }}
