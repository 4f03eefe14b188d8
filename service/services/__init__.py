"""Services: the use-cases and their rules. No FastAPI, no SQL: they talk to repository Protocols."""
