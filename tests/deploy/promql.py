"""Which metric names a PromQL query reads, and which ones the service exports.

The exported names are derived from the metric objects of service.metrics and prometheus_client's
default collectors (the ones /metrics serves), so a renamed metric breaks the dashboard and rule
tests instead of a dashboard panel in production.
"""

from __future__ import annotations

import re

import prometheus_client
import promql_parser
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

import service.metrics

# Series that Prometheus itself adds to every target; the rules and dashboard may read them.
PROMETHEUS_SERIES = {"up"}

_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}
# Grafana's variables ($__rate_interval, $instance, ${job}): a duration stands in for all of
# them, which is valid both inside a range selector and inside a quoted label value.
_GRAFANA_VARIABLE = re.compile(r"\$(\{\w+\}|\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$")


def _collectors() -> list[Collector]:
    ours = [m for m in vars(service.metrics).values() if isinstance(m, MetricWrapperBase)]
    defaults = [
        prometheus_client.PROCESS_COLLECTOR,
        prometheus_client.PLATFORM_COLLECTOR,
        prometheus_client.GC_COLLECTOR,
    ]
    return ours + defaults


def exported_names() -> set[str]:
    """Every sample name /metrics can carry, e.g. sentiment_request_duration_seconds_bucket."""
    names = set()
    for collector in _collectors():
        for family in collector.collect():
            names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def metric_names(query: str) -> set[str]:
    """The metric names a PromQL query (or a Grafana label_values() query) selects."""
    query = _GRAFANA_VARIABLE.sub("1m", query)
    if match := _LABEL_VALUES.match(query):
        query = match.group(1)
    names: set[str] = set()
    selectors_without_name = []

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            else:
                selectors_without_name.append(str(node))

    promql_parser.walk(promql_parser.parse(query), visit)
    if selectors_without_name:
        raise ValueError(f"selectors without a metric name in {query!r}: {selectors_without_name}")
    return names
