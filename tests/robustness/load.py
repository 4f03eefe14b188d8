"""A bounded HTTP load on 127.0.0.1: a fixed number of requests over a fixed number of connections."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by exception name
    created_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    first_error_at: float | None = None  # time.monotonic() of the first transport error

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + sum(self.errors.values())


async def _one(client: httpx.AsyncClient, number: int, result: LoadResult) -> bool:
    """Request `number` of a fixed mix: 2 creates, then a read, a list and a patch of what exists; False on an error."""
    kind = number % 5
    known = result.created_ids[-1] if result.created_ids else None
    try:
        if kind in (0, 1) or known is None:
            response = await client.post("/tasks", json={"title": f"load {number}", "description": "d" * 200})
            if response.status_code == 201:
                result.created_ids.append(response.json()["id"])
        elif kind == 2:
            response = await client.get(f"/tasks/{known}")
        elif kind == 3:
            response = await client.get("/tasks", params={"limit": 20, "status": "todo"})
        else:
            response = await client.patch(f"/tasks/{known}", json={"priority": "high"})
    except httpx.TransportError as exc:
        result.errors[type(exc).__name__] += 1
        if result.first_error_at is None:
            result.first_error_at = time.monotonic()
        return False
    result.statuses[response.status_code] += 1
    return True


async def _run(base_url: str, total: int, concurrency: int, *, creates_only: bool, stop_on_error: bool) -> LoadResult:
    result = LoadResult()
    numbers = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while (number := next(numbers)) < total:
                answered = await _one(client, 0 if creates_only else number, result)
                if stop_on_error and not answered:
                    return

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = loop.time() - started
    return result


def run_load(
    base_url: str, *, total: int, concurrency: int, creates_only: bool = False, stop_on_error: bool = False
) -> LoadResult:
    """`total` requests over `concurrency` connections; with stop_on_error a connection's first error ends it."""
    return asyncio.run(_run(base_url, total, concurrency, creates_only=creates_only, stop_on_error=stop_on_error))
