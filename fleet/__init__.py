"""Fleet server for facility IT (ingest, state, alerts, dashboard). Not built yet."""
