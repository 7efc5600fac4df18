"""Exporting: the Prometheus text of every process's metrics, and the folder they share.

``elo serve`` runs calls in worker processes; each writes its metrics to files in one shared
folder (prometheus-client's multi-process mode), and the serving process reads them all when
``/metrics`` is asked. :func:`use_directory` sets that up before any metric exists:
prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` from the environment in every process (so
the children started after it inherit the mode), and decides a process's mode when it is first
imported (so this process is switched explicitly). Outside ``elo serve`` (``bot.py``, ``elo
campaign run``, tests) nothing is shared and a process exports its own metrics.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, values
from prometheus_client import generate_latest as _generate
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

import telemetry.metrics as _metrics
from config.private_files import make_private_dirs
from config.settings import ConfigError

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The files prometheus-client writes (values.py MultiProcessValue: "{type}_{pid}.db", gauges
# "gauge_{mode}_{pid}.db"). Only these are ever deleted.
_METRIC_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def use_directory(folder: Path | None) -> Path:
    """Make this process and the children it starts record into one shared folder.

    Call once, in the serving process, before any metric is recorded and before any worker
    starts. The folder's earlier metric files are deleted (each run counts from zero, as
    Prometheus expects of a restarted target).

    Args:
        folder: The folder (``ELO_SERVER__METRICS_DIR``), created with mode 0700 if missing;
            None makes a private temporary folder, removed when the process exits.

    Returns:
        The folder in use.

    Raises:
        ConfigError: The folder is not a folder, holds other ``.db`` files (a database? the
            exporter would read them as metrics), or cannot be written.
    """
    if folder is None:
        path = Path(tempfile.mkdtemp(prefix="elo-metrics-"))  # mode 0700
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    else:
        path = Path(folder)
        make_private_dirs(path)
        if not path.is_dir():
            raise ConfigError(f"ELO_SERVER__METRICS_DIR={path} is not a folder")
        strangers = [p.name for p in path.glob("*.db") if not _METRIC_FILE.fullmatch(p.name)]
        if strangers:
            raise ConfigError(
                f"ELO_SERVER__METRICS_DIR={path} holds other .db files ({strangers[0]}, ...);"
                " give the metrics a folder of their own"
            )
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
    # Written, never read: prometheus-client reads it, here and in every child process.
    os.environ[MULTIPROC_ENV] = str(path)
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()
    _metrics.reset(path)
    # The fixed series exist from the start, before any worker has recorded; a folder this
    # process cannot write to is refused now rather than found out from an empty scrape.
    if _metrics.current() is None:
        raise ConfigError(f"cannot write metrics to ELO_SERVER__METRICS_DIR={path}")
    return path


def process_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (its active calls); its counters stay in the sums.

    The supervisor of the worker processes calls this when one exits.
    """
    folder = _metrics.directory()
    if folder is not None:
        mark_process_dead(pid, str(folder))


class _Families:
    """A collector handing out metric families made elsewhere."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The Prometheus text of every metric, plus ``extra`` and this process's process metrics.

    In multi-process mode the values are read from the shared folder (every live and dead
    process's files); otherwise from this process's own registry.

    Args:
        extra: Scrape-time families (see :func:`telemetry.metrics.scrape_families`).
    """
    registry = CollectorRegistry(auto_describe=False)
    folder = _metrics.directory()
    if folder is not None:
        MultiProcessCollector(registry, path=str(folder))
    else:
        _metrics.current()
        own = _metrics.in_process_registry()
        if own is not None:
            registry.register(_Families(own.collect()))
    ProcessCollector(registry=registry)
    registry.register(_Families(extra))
    return _generate(registry)
