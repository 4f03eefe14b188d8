"""`service migrate`: upgrade DATABASE_URL's schema to the code's head, once, and exit.

Exit 0 when the schema is at head afterwards (also when it already was, or
when a newer release migrated it further), 2 for invalid settings, 1 for a
migration that failed or a lock that never came free: one line on stderr, no
traceback. Safe to start several at once (service/schema.py takes a lock).
Imports no web stack: an init container or a release step runs it in a
fraction of the server's start-up.
"""

from __future__ import annotations

import sys

import structlog

from service.schema import MigrationError, upgrade_to_head
from service.startup import load_settings_or_exit

log = structlog.get_logger("service.migrate")


def migrate() -> int:
    settings = load_settings_or_exit(storage=False)
    try:
        before, after = upgrade_to_head(settings)
    except MigrationError as exc:
        print(f"error: migrate {settings.masked_database_url}: {exc}", file=sys.stderr)
        return 1
    if before == after:
        log.info("schema_up_to_date", revision=after, database=settings.masked_database_url)
    return 0
