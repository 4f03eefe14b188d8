"""Process entry point (`service` script, `python -m service`): settings, logging, then uvicorn.

`service migrate` (`python -m service migrate`) upgrades the database schema
to the code's head instead, and exits.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from service.startup import load_settings_or_exit


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


USAGE = "usage: service [migrate]"


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments == ["migrate"]:
        from service.migrate_command import migrate  # noqa: PLC0415  (no web stack for a migration)

        raise SystemExit(migrate())
    if arguments:
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    serve()


def serve() -> None:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal so the
    # process dies of it (exit 143). A graceful stop asked for by the platform
    # (docker stop, Kubernetes) is a success: exit 0 instead.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    settings = load_settings_or_exit(listen=True)
    # Imported once the settings are known good: the application and uvicorn
    # take most of a second to import, and a bad setting must not wait for them.
    import uvicorn  # noqa: PLC0415

    from service.log import configure_logging  # noqa: PLC0415
    from service.main import create_app  # noqa: PLC0415
    from service.observability.multiprocess import prepare_shared_metrics_directory  # noqa: PLC0415
    from service.observability.tracing import tracing_request  # noqa: PLC0415
    from service.protocol import ProtocolLimits, protocol_factory  # noqa: PLC0415

    trace_context = tracing_request().enabled
    configure_logging(level=settings.log_level, log_format=settings.log_format, trace_context=trace_context)
    # Here, once, before any worker (or the app below) writes metrics there.
    prepare_shared_metrics_directory(settings)
    # Several workers need an import string so each process builds its own app.
    app = create_app(settings) if settings.workers == 1 else "service.main:app"
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,  # keep the structlog configuration above
        access_log=False,  # RequestContextMiddleware logs one access event per request
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # httptools with limits on the request head (size, fields, time) and body time: service/protocol.py.
        http=protocol_factory(ProtocolLimits.from_settings(settings)),
    )
