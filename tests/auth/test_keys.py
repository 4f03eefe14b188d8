"""JwksCache with a fake fetch and clock: caching, staleness, rotation, rate limit, single flight, key hygiene."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.auth.errors import InvalidToken, KeysUnavailable
from service.auth.keys import JwksCache, KeySetError, fetch_json, signing_keys
from tests.issuer import new_key

ISSUER = "https://issuer.example.com/"
JWKS_URL = "https://issuer.example.com/jwks.json"


class FakeIssuer:
    """fetch() for JwksCache: serves `keys`, counts calls, fails on demand; never touches the network."""

    def __init__(self) -> None:
        self.keys = [new_key().jwk]
        self.calls = 0
        self.error: Exception | None = None

    def fetch(self, url: str, _timeout: float) -> Any:
        assert url == JWKS_URL
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {"keys": list(self.keys)}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeIssuer:
    return FakeIssuer()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(fake: FakeIssuer, clock: Clock) -> JwksCache:
    return JwksCache(
        issuer=ISSUER, jwks_url=JWKS_URL, timeout=1, max_age=300, min_refresh=10, fetch=fake.fetch, clock=clock
    )


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_known_key_is_served_from_the_cache(cache: JwksCache, fake: FakeIssuer) -> None:
    kid = fake.keys[0]["kid"]

    async def twice() -> None:
        await cache.signing_key(kid, "RS256")
        await cache.signing_key(kid, "RS256")

    run(twice())
    assert fake.calls == 1


def test_concurrent_requests_for_an_unknown_key_share_one_fetch(cache: JwksCache, fake: FakeIssuer) -> None:
    kid = fake.keys[0]["kid"]

    async def many() -> list[Any]:
        return await asyncio.gather(*(cache.signing_key(kid, "RS256") for _ in range(20)))

    assert len(run(many())) == 20
    assert fake.calls == 1


def test_unknown_key_ids_refetch_at_most_once_per_min_refresh(cache: JwksCache, fake: FakeIssuer, clock: Clock) -> None:
    async def unknown() -> None:
        with pytest.raises(InvalidToken):
            await cache.signing_key("forged", "RS256")

    for _ in range(5):
        run(unknown())
    assert fake.calls == 1
    clock.now += 10
    run(unknown())
    assert fake.calls == 2


def test_rotated_key_is_found_by_the_refetch_it_triggers(cache: JwksCache, fake: FakeIssuer, clock: Clock) -> None:
    run(cache.warm_up())
    rotated = new_key(slot=1).jwk
    fake.keys = [rotated]
    clock.now += 11

    key = run(cache.signing_key(rotated["kid"], "RS256"))

    assert key.key_id == rotated["kid"]
    assert fake.calls == 2


def test_stale_keys_serve_at_once_and_refresh_in_the_background(
    cache: JwksCache, fake: FakeIssuer, clock: Clock
) -> None:
    kid = fake.keys[0]["kid"]

    async def scenario() -> None:
        await cache.signing_key(kid, "RS256")
        clock.now += 301
        await cache.signing_key(kid, "RS256")  # served from the cache; a refresh starts
        await asyncio.sleep(0.1)

    run(scenario())
    assert fake.calls == 2


def test_a_failing_refresh_keeps_the_cached_keys(cache: JwksCache, fake: FakeIssuer, clock: Clock) -> None:
    kid = fake.keys[0]["kid"]
    run(cache.warm_up())
    fake.error = OSError("connection refused")
    clock.now += 400

    async def scenario() -> None:
        await cache.signing_key(kid, "RS256")
        await asyncio.sleep(0.1)
        await cache.signing_key(kid, "RS256")

    run(scenario())
    assert fake.calls == 2  # one background attempt, not one per request


def test_no_keys_ever_is_unavailable_with_a_retry_after(cache: JwksCache, fake: FakeIssuer, clock: Clock) -> None:
    fake.error = KeySetError("HTTP 503")
    run(cache.warm_up())
    clock.now += 3

    with pytest.raises(KeysUnavailable) as unavailable:
        run(cache.signing_key("any", "RS256"))

    assert unavailable.value.retry_after == 7
    assert "HTTP 503" in unavailable.value.reason


def test_a_token_without_kid_is_accepted_only_when_the_set_has_one_key(cache: JwksCache, fake: FakeIssuer) -> None:
    assert run(cache.signing_key(None, "RS256")).key_id == fake.keys[0]["kid"]

    fake.keys.append(new_key("ES256").jwk)
    second = JwksCache(issuer=ISSUER, jwks_url=JWKS_URL, timeout=1, max_age=300, min_refresh=10, fetch=fake.fetch)
    with pytest.raises(InvalidToken):
        run(second.signing_key(None, "RS256"))


def test_a_key_is_bound_to_its_algorithm(cache: JwksCache, fake: FakeIssuer) -> None:
    kid = fake.keys[0]["kid"]  # an RS256 key

    with pytest.raises(InvalidToken, match="is for RS256"):
        run(cache.signing_key(kid, "ES256"))


def test_private_members_and_symmetric_keys_are_never_loaded() -> None:
    rsa_jwk = new_key().jwk
    document = {
        "keys": [
            {**rsa_jwk, "d": "private", "p": "private", "q": "private"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {**new_key("ES256").jwk, "use": "enc"},
            "not a key",
        ]
    }

    keys = signing_keys(document)

    assert keys == [{member: rsa_jwk[member] for member in ("kty", "kid", "alg", "use", "n", "e")}]


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, {"keys": []}, [], {"keys": [{"kty": "oct", "k": "x"}]}])
def test_a_key_set_without_usable_signing_keys_is_refused(document: Any) -> None:
    with pytest.raises(KeySetError):
        signing_keys(document)


# fetch_json against a local server


@pytest.fixture
def local_server() -> Iterator[Callable[[int, dict[str, str], bytes], str]]:
    """local_server(status, headers, body) -> URL answering that to every GET."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(status: int, headers: dict[str, str], body: bytes) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_fetch_json_reads_a_document(local_server: Callable[[int, dict[str, str], bytes], str]) -> None:
    assert fetch_json(local_server(200, {}, b'{"keys": []}'), 2) == {"keys": []}


def test_fetch_json_follows_no_redirect(local_server: Callable[[int, dict[str, str], bytes], str]) -> None:
    target = local_server(200, {}, b'{"keys": []}')
    redirect = local_server(302, {"Location": target}, b"")

    with pytest.raises(KeySetError, match="HTTP 302"):
        fetch_json(redirect, 2)


def test_fetch_json_refuses_an_oversized_document(local_server: Callable[[int, dict[str, str], bytes], str]) -> None:
    with pytest.raises(KeySetError, match="larger than"):
        fetch_json(local_server(200, {}, b" " * (1024 * 1024 + 10)), 2)


def test_fetch_json_refuses_plain_http_off_this_machine() -> None:
    with pytest.raises(KeySetError, match="neither https nor a loopback"):
        fetch_json("http://keys.example.com/jwks.json", 2)
