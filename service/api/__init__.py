"""HTTP layer: routes, dependency providers, error mapping. Knows FastAPI; knows no SQL."""
