"""Load shedding: past MAX_CONCURRENT_REQUESTS in flight, a JSON 503 with Retry-After; probes always pass."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from service.middleware.concurrency_limit import ConcurrencyLimitMiddleware


class Held:
    """An ASGI app whose requests wait until released, counting how many got in."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0

    async def __call__(self, scope: Scope, _receive: Receive, send: Send) -> None:
        self.entered += 1
        if scope["path"] != "/health":
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response, int]:
    held = Held()
    app = ConcurrencyLimitMiddleware(held, max_requests=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        holding = [asyncio.create_task(client.get("/tasks")) for _ in range(2)]
        while held.entered < 2:
            await asyncio.sleep(0.01)
        refused = await client.get("/tasks")
        probe = await client.get("/health")
        held.release.set()
        answered = [await task for task in holding]
        after = await client.get("/tasks")
    assert after.status_code == 200
    return answered, refused, probe, app.in_flight


def test_requests_past_the_bound_get_503_json_with_retry_after_and_probes_pass() -> None:
    answered, refused, probe, in_flight_after = asyncio.run(scenario())

    assert [response.status_code for response in answered] == [200, 200]
    assert refused.status_code == 503
    assert refused.json() == {"detail": "Server busy; retry later"}
    assert refused.headers["retry-after"] == "1"
    assert probe.status_code == 200
    assert in_flight_after == 0
