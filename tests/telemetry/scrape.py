"""Reading a Prometheus scrape in tests: sample values by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from telemetry.export import exposition


@dataclass(frozen=True)
class Scrape:
    """One scrape's text and its samples.

    Attributes:
        text: The exposition as served.
        samples: ``(sample name, sorted labels) -> value``.
        families: Family name -> its type (``counter``, ``gauge``, ``histogram``...).
    """

    text: str
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    families: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        families: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            families[family.name] = family.type
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return cls(text=text, samples=samples, families=families)

    @classmethod
    def in_process(cls) -> Scrape:
        """This process's own metrics, as ``GET /metrics`` serves them outside ``elo serve``."""
        return cls.parse(exposition().decode())

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when it is not there."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= set(ls))

    def names(self) -> set[str]:
        """Every sample name and family name in the scrape."""
        return {name for name, _ in self.samples} | set(self.families)

    def label_names(self, name: str) -> set[str]:
        """The label names the samples of ``name`` carry."""
        return {label for n, ls in self.samples for label, _ in ls if n == name}

    def label_values(self) -> set[str]:
        """Every label value in the scrape."""
        return {value for _, ls in self.samples for _, value in ls}
