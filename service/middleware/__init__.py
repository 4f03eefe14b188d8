"""Pure ASGI middleware (BaseHTTPMiddleware costs most of the throughput): one module per concern."""
