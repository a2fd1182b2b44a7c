"""Prometheus metrics (``serve --metrics-port N``), served on 127.0.0.1 only.

``prometheus_client`` (extra ``bytebuddy-ls[metrics]``) is imported only when the flag is
given, so ``serve`` without it starts as fast as before. Observations happen on the event
loop (a lock and an add each); breaker states, in-flight requests and budget use are read
when Prometheus scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..inference.records import UpstreamCall
from ..log import logger

PREFIX = "bytebuddy"
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
BREAKER_STATES = ("closed", "half-open", "open")


class MetricsUnavailable(Exception):
    pass


class Gauges:
    """What the server knows at scrape time (set by the server when it wires metrics)."""

    def __init__(self) -> None:
        self.models: Callable[[], Iterable[str]] = lambda: ()
        self.breaker_state: Callable[[str], str] = lambda _name: "closed"
        self.in_flight: Callable[[], int] = lambda: 0
        self.budgets: Callable[[], Iterable[tuple[str, float]]] = lambda: ()


class Metrics:
    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            raise MetricsUnavailable(
                "--metrics-port needs the 'prometheus_client' package: "
                "pip install 'bytebuddy-ls[metrics]'"
            ) from None
        self._prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        labels = ("role", "model", "provider")

        def histogram(name: str, documentation: str) -> prom.Histogram:
            return prom.Histogram(
                f"{PREFIX}_{name}",
                documentation,
                labels,
                buckets=LATENCY_BUCKETS,
                registry=self.registry,
            )

        def counter(name: str, documentation: str, labels: tuple[str, ...]) -> prom.Counter:
            return prom.Counter(f"{PREFIX}_{name}", documentation, labels, registry=self.registry)

        self.latency = histogram(
            "request_duration_seconds", "Upstream call duration, from request to the last token"
        )
        self.ttft = histogram("time_to_first_token_seconds", "Time to the first streamed token")
        self.requests = counter(
            "requests",
            "Upstream calls by outcome (ok, cancelled or an error kind)",
            (*labels, "outcome"),
        )
        self.errors = counter(
            "errors", "Failed upstream calls by error kind", ("type", "model", "provider")
        )
        self.tokens = counter(
            "tokens",
            "Tokens sent (prompt) and received (completion)",
            ("kind", "model", "provider"),
        )
        self.cost = counter("cost_usd", "Estimated spend in US dollars", ("model", "provider"))
        self.cache_hits = counter(
            "cache_hits",
            "Suggestions served from the autocomplete cache without an upstream call",
            ("model",),
        )
        self.gauges = Gauges()
        self.registry.register(_Live(self))
        self._server: Any = None
        self._thread: Any = None

    def observe(self, call: UpstreamCall, cost_usd: float) -> None:
        by = (call.role, call.model, call.provider)
        self.requests.labels(*by, call.outcome).inc()
        if call.outcome not in ("ok", "cancelled"):
            self.errors.labels(call.outcome, call.model, call.provider).inc()
        else:
            self.latency.labels(*by).observe(call.latency_s)
            if call.ttft_s is not None:
                self.ttft.labels(*by).observe(call.ttft_s)
        if call.prompt_tokens:
            self.tokens.labels("prompt", call.model, call.provider).inc(call.prompt_tokens)
        if call.completion_tokens:
            self.tokens.labels("completion", call.model, call.provider).inc(call.completion_tokens)
        if cost_usd:
            self.cost.labels(call.model, call.provider).inc(cost_usd)

    def cache_hit(self, model: str) -> None:
        self.cache_hits.labels(model).inc()

    def serve(self, port: int) -> int:
        """Listen on 127.0.0.1:``port`` (0: any free port); the port listened on."""
        result = self._prom.start_http_server(port, addr="127.0.0.1", registry=self.registry)
        if isinstance(result, tuple):
            self._server, self._thread = result
            return int(self._server.server_port)
        return port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Live:
    """Scrape-time gauges."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        # Runs on the HTTP server's thread while the server changes what it reads: a
        # scrape that catches a config reload mid-way reports nothing rather than failing.
        try:
            families = list(self._families())
        except Exception:
            logger.debug("metrics: scrape-time gauges unavailable", exc_info=True)
            return
        yield from families

    def _families(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauges = self._metrics.gauges
        breaker = GaugeMetricFamily(
            f"{PREFIX}_circuit_breaker_state",
            "1 for the state each model's circuit breaker is in (closed, half-open, open)",
            labels=("model", "state"),
        )
        for model in gauges.models():
            current = gauges.breaker_state(model)
            for state in BREAKER_STATES:
                breaker.add_metric((model, state), 1.0 if state == current else 0.0)
        yield breaker
        yield GaugeMetricFamily(
            f"{PREFIX}_in_flight_requests",
            "Upstream calls in progress",
            value=float(gauges.in_flight()),
        )
        budget = GaugeMetricFamily(
            f"{PREFIX}_budget_used_ratio",
            "Share of each budget used in its current period (1 = used up)",
            labels=("budget",),
        )
        for name, ratio in gauges.budgets():
            budget.add_metric((name,), ratio)
        yield budget


def start_metrics(port: int) -> Metrics | None:
    """Metrics served on 127.0.0.1:``port``, or None after saying on stderr why not."""
    import sys

    if not 0 <= port <= 65535:
        print(f"bytebuddy-ls: --metrics-port {port} is not a port number", file=sys.stderr)
        return None
    try:
        metrics = Metrics()
        listening = metrics.serve(port)
    except MetricsUnavailable as exc:
        print(f"bytebuddy-ls: {exc}", file=sys.stderr)
        return None
    except OSError as exc:
        print(
            f"bytebuddy-ls: cannot serve metrics on 127.0.0.1:{port} ({exc.strerror}); "
            "choose another --metrics-port",
            file=sys.stderr,
        )
        return None
    logger.info("metrics at http://127.0.0.1:%d/metrics", listening)
    return metrics
