"""Alembic migrations of the service's schema: env.py, the revision template and versions/ (one file per revision).

Run them with `service migrate` (service/schema.py), never by hand on a shared
database: it takes the lock that keeps two replicas from migrating at once.
"""
