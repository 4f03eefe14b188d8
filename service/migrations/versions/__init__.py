"""One module per schema revision. A revision imports alembic and sqlalchemy only, never the service."""
