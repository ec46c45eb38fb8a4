"""What the user writes: sequence and team YAML, templates, durations and calendars, as
frozen, validated specs. Pure: no database, no network."""
