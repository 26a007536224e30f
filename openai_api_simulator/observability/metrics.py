"""Prometheus metrics, served at GET /metrics in the text exposition format::

    oas_requests_total{route,model,status}              requests answered
    oas_request_duration_seconds{route,model}           histogram: request start to the end of the answer
    oas_time_to_first_token_seconds{route,model}        histogram, event streams only: to the first body chunk
    oas_tokens_total{model,kind}                        kind = prompt | completion, from the answers' `usage`
    oas_engine_restarts_total{model}                    relaunches of a supervised engine after it exited
    oas_engine_state{model,state}                       1 for the state the engine is in, 0 for the others

`route` is the template of the route that matched (``/v1/models/{model_id}``), or "other": never a raw path, so
requests for unknown URLs cannot grow the label set. `model` is the model a request was routed to, "unknown"
for a request naming none the server serves, "" on routes that take no model.

The request path only appends a tuple; batches are added up into plain dicts and lists, and become
prometheus-client families when /metrics is read. prometheus-client's own counters and histograms take a lock
per observation, about 1 µs for a counter and a histogram per request (measured), a visible share of a memo
hit that costs ~15 µs in all. Everything runs in the server's event loop, so nothing here needs a lock.
prometheus-client itself (~50 ms to import, most of it its HTTP server) is imported at the first scrape, so a
server that is never scraped does not pay for it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol, cast, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from openai_api_simulator.engines.states import EngineState

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

# Seconds. The fake answers in well under a millisecond, an engine in seconds, a long generation in minutes.
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# The `le` label of each bucket (the same spelling as prometheus-client's), and +Inf last.
_LE: Final = (*(repr(bound) for bound in BUCKETS), "+Inf")
OTHER_ROUTE: Final = "other"
_STATES: Final = tuple(state.value for state in EngineState)
_CONVERTOR: Final = re.compile(r"\{(\w+):\w+\}")
# Observations kept before they are added up (and always when /metrics is read): appending one is a fraction
# of the cost of counting it at once, and adding up a batch runs in one warm loop.
PENDING_MAX: Final = 256

# (path, model, status, duration, time to first token, (prompt, completion) tokens)
_Observation = tuple[str, str, int, float, "float | None", "tuple[int, int] | None"]


@runtime_checkable
class Supervised(Protocol):
    """A backend whose model runs in a supervised engine (`backends.engine.EngineBackend`)."""

    @property
    def model(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def restarts(self) -> int: ...


@runtime_checkable
class CountsTokens(Protocol):
    """A backend that counts the tokens of its own JSON answers (the fake: it knows them without a scan)."""

    @property
    def token_counts(self) -> Mapping[str, Sequence[int]]:
        """Model id -> [prompt, completion] tokens of its JSON answers so far."""
        ...


class RouteLabels:
    """The `route` label of a request path: the template of the app's route that matches it, else "other"."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.static: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        for route in routes:
            if not isinstance(route, Route):
                continue
            if route.param_convertors:
                self._patterns.append((route.path_regex, _CONVERTOR.sub(r"{\1}", route.path)))
            else:
                self.static[route.path] = route.path

    def __call__(self, path: str) -> str:
        label = self.static.get(path)
        return label if label is not None else self.match(path)

    def match(self, path: str) -> str:
        """The label of a path with parameters (`static` holds the others)."""
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return OTHER_ROUTE


class _Series:
    """What is counted for one (route, model): answers by status, the two histograms, the tokens.

    A histogram is its counts per bucket (the last one is +Inf) and their sum, cumulated only when rendered.
    """

    __slots__ = ("completion", "duration_sum", "durations", "first_token_sum", "first_tokens", "prompt", "statuses")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.durations = [0] * len(_LE)
        self.duration_sum = 0.0
        self.first_tokens = [0] * len(_LE)
        self.first_token_sum = 0.0
        self.prompt = 0
        self.completion = 0


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    running = 0
    for le, count in zip(_LE, counts, strict=True):
        running += count
        out.append((le, running))
    return out


class Metrics:
    """What the middleware measured, and the engines of `backends`, as one app's Prometheus metrics.

    Each app has its own (not prometheus-client's global registry): tests build many apps in one process.
    """

    def __init__(self, backends: Iterable[object], routes: Iterable[BaseRoute]) -> None:
        """`routes`: the app's other routes, whose templates are the `route` labels."""
        self.route = Route("/metrics", self._endpoint, methods=["GET"])  # GET /metrics, for the app to serve
        self._routes = RouteLabels([*routes, self.route])
        self._pending: list[_Observation] = []
        self._series: dict[tuple[str, str], _Series] = {}
        backends = tuple(backends)
        self._engines: tuple[Supervised, ...] = tuple(b for b in backends if isinstance(b, Supervised))
        self._counting: tuple[CountsTokens, ...] = tuple(b for b in backends if isinstance(b, CountsTokens))
        # Models whose JSON answers the middleware need not scan for tokens: their backend counts them.
        self.self_counted = frozenset(model for b in self._counting for model in b.token_counts)
        self._registry: CollectorRegistry | None = None

    def record(
        self,
        path: str,
        model: str,
        status: int,
        duration: float,
        first_token: float | None,
        usage: tuple[int, int] | None,
    ) -> None:
        """One answered request (called by the middleware once its answer has ended)."""
        pending = self._pending
        pending.append((path, model, status, duration, first_token, usage))
        if len(pending) >= PENDING_MAX:
            self._count()

    def _count(self) -> None:
        """Add the pending observations to the series."""
        pending, self._pending = self._pending, []
        static, match, all_series = self._routes.static, self._routes.match, self._series
        for path, model, status, duration, first_token, usage in pending:
            route = static.get(path)
            key = (route if route is not None else match(path), model)
            series = all_series.get(key)
            if series is None:
                series = all_series[key] = _Series()
            statuses = series.statuses
            statuses[status] = statuses.get(status, 0) + 1
            # bisect_left: the first bound >= the value, which is Prometheus's `le`.
            series.durations[bisect_left(BUCKETS, duration)] += 1
            series.duration_sum += duration
            if first_token is not None:
                series.first_tokens[bisect_left(BUCKETS, first_token)] += 1
                series.first_token_sum += first_token
            if usage is not None:
                series.prompt += usage[0]
                series.completion += usage[1]

    def collect(self) -> Iterator[Metric]:
        """The metric families (prometheus-client's collector interface)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        self._count()
        requests = CounterMetricFamily(
            "oas_requests",
            "Requests answered, by route template, model and status.",
            labels=["route", "model", "status"],
        )
        durations = HistogramMetricFamily(
            "oas_request_duration_seconds", "Time from a request to the end of its answer.", labels=["route", "model"]
        )
        first_tokens = HistogramMetricFamily(
            "oas_time_to_first_token_seconds",
            "Time from a streaming request to the first chunk of its event stream.",
            labels=["route", "model"],
        )
        by_model: dict[str, list[int]] = {}
        for backend in self._counting:
            for model, (prompt, completion) in backend.token_counts.items():
                if prompt or completion:
                    by_model[model] = [prompt, completion]
        for (route, model), series in self._series.items():
            for status, count in series.statuses.items():
                requests.add_metric([route, model, str(status)], count)
            durations.add_metric([route, model], _cumulative(series.durations), series.duration_sum)
            if any(series.first_tokens):
                first_tokens.add_metric([route, model], _cumulative(series.first_tokens), series.first_token_sum)
            if series.prompt or series.completion:
                tokens_of = by_model.setdefault(model, [0, 0])
                tokens_of[0] += series.prompt
                tokens_of[1] += series.completion
        yield requests
        yield durations
        yield first_tokens
        tokens = CounterMetricFamily(
            "oas_tokens",
            "Tokens in the answers' usage, by model and kind (prompt or completion).",
            labels=["model", "kind"],
        )
        for model, (prompt, completion) in by_model.items():
            tokens.add_metric([model, "prompt"], prompt)
            tokens.add_metric([model, "completion"], completion)
        yield tokens
        restarts = CounterMetricFamily(
            "oas_engine_restarts", "Relaunches of a model's engine after it exited.", labels=["model"]
        )
        states = GaugeMetricFamily(
            "oas_engine_state", "1 for the state a model's engine is in, 0 for the others.", labels=["model", "state"]
        )
        for engine in self._engines:
            restarts.add_metric([engine.model], engine.restarts)
            current = engine.state
            for state in _STATES:
                states.add_metric([engine.model, state], 1.0 if state == current else 0.0)
        yield restarts
        yield states

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from prometheus_client.registry import CollectorRegistry

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(cast("Collector", self))  # it only calls collect()
        return generate_latest(self._registry), CONTENT_TYPE_LATEST

    async def _endpoint(self, request: Request) -> Response:
        body, content_type = self.render()
        return Response(body, media_type=content_type)


def engine_models(metrics_text: str) -> dict[str, tuple[str, int]]:
    """(state, restarts) of each engine, read back from /metrics text (for the `status` command)."""
    from prometheus_client.parser import text_string_to_metric_families

    states: dict[str, str] = {}
    restarts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "oas_engine_state" and sample.value == 1:
                states[sample.labels["model"]] = sample.labels["state"]
            elif sample.name == "oas_engine_restarts_total":
                restarts[sample.labels["model"]] = int(sample.value)
    return {model: (state, restarts.get(model, 0)) for model, state in states.items()}
