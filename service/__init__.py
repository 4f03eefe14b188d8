"""Task API: a layered FastAPI service template (routes -> services -> repositories -> db)."""
