"""Reading a /metrics body the way Prometheus does (prometheus-client's own parser)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of a Prometheus text body: (sample name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def label_values(text: str, name_prefix: str, label: str) -> set[str]:
    return {
        dict(labels)[label] for name, labels in samples(text) if name.startswith(name_prefix) and label in dict(labels)
    }
