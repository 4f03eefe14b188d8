"""The most client connections a database had at once, by application_name, sampled from pg_stat_activity."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from tests.postgres import APP_USER, LocalPostgres

POLL_SECONDS = 0.01
MAX_POLLS = 20_000  # bounds the loop: a few minutes of sampling at most

_COUNT = """
    SELECT application_name, count(*) FROM pg_stat_activity
    WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()
    GROUP BY application_name
"""


@dataclass
class PeakConnections:
    peaks: Counter[str] = field(default_factory=Counter)  # most at once, per application_name
    peak_total: int = 0  # most at once, all names together
    samples: int = 0

    def peak_of(self, *names: str) -> int:
        return max((self.peaks[name] for name in names), default=0)


@contextmanager
def sampling_connections(postgres: LocalPostgres, database: str) -> Iterator[PeakConnections]:
    """Poll pg_stat_activity for `database` in the background until the block ends (its own connection excluded)."""
    peak = PeakConnections()
    stop = threading.Event()

    def sample(connection: psycopg.Connection[tuple[object, ...]]) -> None:
        for _ in range(MAX_POLLS):
            counts = {str(name): int(str(count)) for name, count in connection.execute(_COUNT, [database])}
            for name, count in counts.items():
                peak.peaks[name] = max(peak.peaks[name], count)
            peak.peak_total = max(peak.peak_total, sum(counts.values()))
            peak.samples += 1
            if stop.wait(POLL_SECONDS):
                return

    with postgres.connect(database, user=APP_USER) as connection:
        poller = threading.Thread(target=sample, args=(connection,), daemon=True)
        poller.start()
        try:
            yield peak
        finally:
            stop.set()
            poller.join(30)
