"""Bearer-token authentication against an OpenID Connect issuer: keys, tokens, callers, permissions.

Knows no FastAPI (service/api/auth.py is the HTTP side). keys.py and tokens.py
need the `auth` extra (PyJWT + cryptography) and are imported only when
AUTH_ISSUER is set; the rest is standard library.
"""
