"""Edge settings (limits, auth, CORS): defaults, and bad values refused with one line naming the variable."""

from __future__ import annotations

import pytest

from service.settings import InvalidSettings, load_settings


def test_edge_defaults_are_safe_and_need_nothing() -> None:
    settings = load_settings()

    assert (settings.max_header_bytes, settings.max_headers) == (16384, 100)
    assert (settings.header_timeout, settings.body_timeout) == (10, 30)
    assert settings.max_concurrent_requests == 256
    assert settings.auth_enabled is False
    assert settings.auth_algorithms == ("RS256", "ES256")
    assert settings.cors_origins == ()


def test_auth_is_on_with_an_issuer_and_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ISSUER", "https://login.example.com/")
    monkeypatch.setenv("AUTH_AUDIENCE", "task-api")
    monkeypatch.setenv("AUTH_ALGORITHMS", "PS256, ES384")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, http://localhost:3000")

    settings = load_settings()

    assert settings.auth_enabled
    assert settings.auth_algorithms == ("PS256", "ES384")
    assert settings.cors_origins == ("https://a.example.com", "http://localhost:3000")


def test_empty_auth_issuer_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_ISSUER", "")

    assert load_settings().auth_enabled is False


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"AUTH_ISSUER": "https://login.example.com/"}, "AUTH_AUDIENCE: required when AUTH_ISSUER is set"),
        ({"AUTH_ISSUER": "http://login.example.com/", "AUTH_AUDIENCE": "a"}, "AUTH_ISSUER: must be an https:// URL"),
        ({"AUTH_JWKS_URL": "http://keys.example.com/jwks.json"}, "AUTH_JWKS_URL: must be an https:// URL"),
        ({"AUTH_ALGORITHMS": "RS256,HS256"}, "AUTH_ALGORITHMS: HS256 not allowed"),
        ({"AUTH_ALGORITHMS": "none"}, "AUTH_ALGORITHMS: none not allowed"),
        ({"AUTH_ALGORITHMS": ","}, "AUTH_ALGORITHMS: nothing not allowed"),
        ({"CORS_ORIGINS": "*"}, "CORS_ORIGINS: '*' is not accepted"),
        ({"CORS_ORIGINS": "https://a.example.com/path"}, "CORS_ORIGINS: 'https://a.example.com/path' is not an origin"),
        ({"MAX_HEADER_BYTES": "100"}, "MAX_HEADER_BYTES: Input should be greater than or equal to 1024"),
        ({"HEADER_TIMEOUT": "0"}, "HEADER_TIMEOUT: Input should be greater than 0"),
        ({"BODY_TIMEOUT": "soon"}, "BODY_TIMEOUT: Input should be a valid number"),
        ({"MAX_CONCURRENT_REQUESTS": "0"}, "MAX_CONCURRENT_REQUESTS: Input should be greater than or equal to 1"),
    ],
)
def test_bad_edge_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(InvalidSettings) as refused:
        load_settings()

    assert str(refused.value).startswith(f"invalid configuration: {message}")
