"""Start-up: settings read and checked against the storage they name before the server listens.

Every entry point goes through load_settings_or_exit(), so a bad value stops the
process at once with one line naming the variable, instead of a half-working
server or a traceback from inside uvicorn's lifespan.
"""

from __future__ import annotations

import sys

from sqlalchemy.exc import SQLAlchemyError

from service.db import create_db_engine, create_schema
from service.settings import InvalidSettings, Settings, load_settings


def check_storage(settings: Settings) -> None:
    """Raise InvalidSettings when MODELS_DIR or DATABASE_URL cannot work.

    A missing models directory is allowed (it may be mounted later; /ready
    reports it), a models path that is a file is not. The database must open
    and take the schema, which also creates the SQLite file's directory.
    """
    if settings.models_dir.exists() and not settings.models_dir.is_dir():
        raise InvalidSettings(f"MODELS_DIR: {settings.models_dir} is not a directory")
    engine = create_db_engine(settings)
    try:
        create_schema(engine)
    except OSError as exc:
        raise InvalidSettings(f"DATABASE_URL: cannot create the database directory: {exc}") from None
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise InvalidSettings(f"DATABASE_URL: cannot open the database: {reason}") from None
    finally:
        engine.dispose()


def load_settings_or_exit() -> Settings:
    """Settings from the environment, checked; or exit 2 with one line on stderr (no traceback)."""
    try:
        settings = load_settings()
        check_storage(settings)
    except InvalidSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings
