"""The agreed contract, transcribed once: variables, code lists, rules, municipalities, KPIs."""
