"""Project-wide helpers with no app behind them: crypto, cache, CSV, SQL, redaction, HTTP, the PostgreSQL
backend. Nothing here imports an app."""
