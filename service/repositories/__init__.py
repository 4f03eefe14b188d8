"""Repositories: the only place that speaks SQL or touches the filesystem for data."""
