"""OpenTelemetry traces: off unless the standard variables ask for them, and free when off.

Enabled by OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_TRACES_EXPORTER=otlp);
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) are read
by the SDK itself. Spans follow one question through the gateway: the server span of the request, the MCP tool
call (named and attributed per the MCP semantic conventions), the lookup with its cache decision, each BAW call (a
client span, `traceparent` sent on to BAW) and credential renewals.

OpenTelemetry keeps its tracer provider process-wide; this module holds the one tracer the gateway uses, set once
by `configure` (or a test's `use`). While it is None every helper here returns at once: no import of the SDK, no
span objects, no context switches.

Most requests start a trace the sampler leaves out (at 10 %, nine in ten). For those the SDK would still build a
non-recording span, a sampling result, a span context and a new OpenTelemetry context, and switch contexts twice:
a fifth of a cached answer's cost. So a root is judged first, on a trace id from the provider's own generator; a
dropped root is only its trace id, kept in a context variable for the log lines and for the `traceparent` BAW
receives. A kept root is started by the SDK on that same id (`_DrawnIds` hands it over) and with that same verdict
(`_JudgedRoots`, for samplers that may answer differently when asked again): one draw, one decision.
The judging is the provider's sampler's own, except for the standard samplers (`OTEL_TRACES_SAMPLER`), whose
decision on a root is a comparison of the trace id's low 64 bits with a bound (`_root_bound`): that comparison is
made here, without the sampling result, parent lookup and trace state the sampler builds for each answer.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Iterator, Mapping

from gateway.context import bound

_tracer: Any = None
_api: Any = None  # opentelemetry.trace, once tracing is on
_context: Any = None  # opentelemetry.context
_propagate: Any = None  # opentelemetry.propagate
_kinds: dict[str, Any] = {}
_sampler: Any = None  # the tracer's sampler, asked about roots before the SDK is
_ids: Any = None  # the tracer's id generator, wrapped in a _DrawnIds
_judged: Any = None  # the tracer's sampler, wrapped in a _JudgedRoots
_new_trace_id: Any = None  # the generator's own generate_trace_id, for judging roots
_bound: int | None = None  # a root is kept when its trace id's low 64 bits are below this; None: ask _sampler
_LOW_64 = (1 << 64) - 1
_NOOP: AbstractContextManager[None] = nullcontext()
# The trace id of the root the sampler dropped, while its request runs (formatted only when a log line or BAW's
# `traceparent` asks). While it is set no OpenTelemetry span is current (a trace continued inside it clears it),
# so it is looked at first.
_dropped_trace: ContextVar[int] = ContextVar("dropped_trace", default=0)
_ENABLING = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class TracingUnavailable(RuntimeError):
    """OTEL_* variables ask for traces, but the SDK is not installed."""


def enabled_by(env: Mapping[str, str]) -> bool:
    return any(env.get(name) for name in _ENABLING) or env.get("OTEL_TRACES_EXPORTER", "").lower() == "otlp"


def configure(env: Mapping[str, str] | None = None) -> bool:
    """Set up the SDK with an OTLP (HTTP) exporter when the variables ask for traces; True when they did."""
    env = os.environ if env is None else env
    if not enabled_by(env):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    except ImportError as exc:  # installed without the extra: say so rather than run untraced
        raise TracingUnavailable(
            "traces asked for, but the OpenTelemetry SDK is missing: pip install 'baw-gateway[tracing]'"
        ) from exc
    from opentelemetry import trace  # noqa: PLC0415 - only when traces are on
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "baw-gateway")})
    provider = TracerProvider(resource=hashed_once(resource))  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use(provider)
    return True


def hashed_once(resource: Any) -> Any:
    """The same resource, its hash computed once. The OTLP encoder groups every exported span by its resource, a
    dictionary lookup per span, and the SDK's `Resource.__hash__` writes the attributes out as JSON each time: a
    fifth of the encoding (15.4 -> 12.1 µs a span), on the exporter's thread but under the interpreter lock the
    requests need. A resource's attributes never change after it is made, so neither does its hash."""
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - only when traces are on

    class HashedOnce(Resource):
        _hash: int | None = None

        def __hash__(self) -> int:
            # (at first use, as the SDK's own: an attribute it cannot hash fails where it always did)
            if self._hash is None:
                self._hash = super().__hash__()
            return self._hash

    return HashedOnce(resource.attributes, resource.schema_url)


def use(provider: Any) -> None:
    """Trace with this provider (None: stop tracing). Tests pass one with an in-memory exporter."""
    global _tracer, _api, _context, _propagate, _kinds, _sampler, _ids, _judged, _new_trace_id, _bound
    if provider is None:
        _tracer = None
        return
    from opentelemetry import context, propagate, trace  # noqa: PLC0415 - only when traces are on

    from gateway import __version__  # noqa: PLC0415

    _api, _context, _propagate = trace, context, propagate
    _kinds = {"server": trace.SpanKind.SERVER, "client": trace.SpanKind.CLIENT, "internal": trace.SpanKind.INTERNAL}
    tracer = provider.get_tracer("baw-gateway", __version__)
    # (the SDK's Tracer keeps both as public attributes; the tracer is ours alone)
    _new_trace_id = tracer.id_generator.generate_trace_id
    tracer.id_generator = _ids = _DrawnIds(tracer.id_generator)
    _sampler = tracer.sampler
    tracer.sampler = _judged = _JudgedRoots(_sampler)
    _bound = _root_bound(_sampler)
    _tracer = tracer


def _root_bound(sampler: Any) -> int | None:
    """The bound a standard sampler compares a root's trace id with (its low 64 bits, as `TraceIdRatioBased`
    does): the ratio's bound, 2**64 for always-on, 0 for always-off. None for any other sampler, which is asked."""
    from opentelemetry.sdk.trace import sampling  # noqa: PLC0415 - only when traces are on

    if type(sampler) in (sampling.ParentBased, sampling.ParentBasedTraceIdRatio):
        # (a root has no parent, so the parent-based samplers answer with their root sampler)
        sampler = getattr(sampler, "_root", None)
    if type(sampler) is sampling.TraceIdRatioBased:
        return int(sampler.bound)
    if type(sampler) is sampling.StaticSampler:
        return {id(sampling.ALWAYS_ON): 1 << 64, id(sampling.ALWAYS_OFF): 0}.get(id(sampler))
    return None


class _DrawnIds:
    """The provider's id generator, except that a trace id `span` drew to judge a root is the one the SDK then
    starts that root with (nothing awaits in between, and only the event loop's thread starts spans)."""

    def __init__(self, ids: Any) -> None:
        self._ids = ids
        self.drawn = 0

    def generate_trace_id(self) -> int:
        drawn, self.drawn = self.drawn, 0
        return drawn or self._ids.generate_trace_id()

    def generate_span_id(self) -> int:
        return int(self._ids.generate_span_id())

    def is_trace_id_random(self) -> bool:
        return bool(self._ids.is_trace_id_random())


class _JudgedRoots:
    """The provider's sampler, except that a root `span` already judged is started with that verdict, not asked
    about again (a sampler that is not a function of the trace id could answer otherwise the second time)."""

    def __init__(self, sampler: Any) -> None:
        self._sampler = sampler
        self.verdict: Any = None

    def should_sample(self, *args: Any, **kwargs: Any) -> Any:
        verdict, self.verdict = self.verdict, None
        return verdict if verdict is not None else self._sampler.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return str(self._sampler.get_description())


class _Current:
    """What the API's `use_span(span, end_on_exit=True)` does, as a class rather than a generator (a kept trace makes
    two per request): the span current within the block; an exception leaving it recorded on the span, whose status
    turns ERROR; the span ended."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Any) -> None:
        self._span = span

    def __enter__(self) -> Any:
        self._token = _context.attach(_api.set_span_in_context(self._span))
        return self._span

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        span = self._span
        _context.detach(self._token)
        if isinstance(error, Exception) and span.is_recording():  # (use_span leaves GeneratorExit and the like)
            span.record_exception(error)
            span.set_status(_api.Status(_api.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


def active() -> bool:
    return _tracer is not None


def recording() -> bool:
    """Whether a span made now may be kept: tracing is on and the request's root was not dropped. Where a span site
    is cheaper skipped than asked (its attributes, its context manager), it asks this first."""
    return _tracer is not None and not _dropped_trace.get()


def span(
    name: str,
    *,
    kind: str = "internal",
    carrier: Mapping[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """A span around the block (yielding it, or None while tracing is off). `carrier`: W3C headers to continue
    (an inbound request's, or an MCP message's `_meta`). Inside a trace the sampler did not keep, no child span is
    made: the standard samplers decide the same for a trace's every span, and unsampled spans cost CPU for nothing
    (the trace context still travels to BAW)."""
    if _tracer is None:
        return _NOOP
    if carrier:
        context = _propagate.extract(carrier)
        continued = _Current(_tracer.start_span(name, context=context, kind=_kinds[kind], attributes=attributes))
        return _apart_from_dropped(continued) if _dropped_trace.get() else continued
    if _dropped_trace.get():
        return _NOOP
    if not _context.get_current():  # nothing current at all (a request's server span): a root, looked up cheaply
        return _root(name, _kinds[kind], attributes)
    parent = _api.get_current_span()
    if parent.get_span_context().is_valid:
        if not parent.is_recording():
            return _NOOP
        return _Current(_tracer.start_span(name, kind=_kinds[kind], attributes=attributes))
    return _root(name, _kinds[kind], attributes)


@contextmanager
def _apart_from_dropped(continued: AbstractContextManager[Any]) -> Iterator[Any]:
    """A trace continued (from an MCP `_meta`) inside a dropped root: within it, the dropped root is not current."""
    with bound(_dropped_trace, 0), continued as started:
        yield started


def _root(name: str, kind: Any, attributes: dict[str, Any] | None) -> AbstractContextManager[Any]:
    trace_id = _new_trace_id()
    verdict = None  # (the standard samplers answer the same when the SDK asks again: they are not kept)
    if _bound is None:
        verdict = _sampler.should_sample(None, trace_id, name, kind, attributes)
        kept = verdict.decision.is_recording()
    else:
        kept = trace_id & _LOW_64 < _bound
    if not kept:
        return bound(_dropped_trace, trace_id)  # (a dropped root is its trace id, current in the block)
    _ids.drawn, _judged.verdict = trace_id, verdict
    try:
        root = _tracer.start_span(name, kind=kind, attributes=attributes)  # takes the drawn id and verdict at once
    finally:
        # (a tracer the SDK's configurator disabled returns before drawing: nothing is left behind)
        _ids.drawn, _judged.verdict = 0, None
    return _Current(root)


def annotate(key: str, value: Any) -> None:
    """Set an attribute on the current span (the BAW call's status, known deep inside the call)."""
    if _tracer is not None and not _dropped_trace.get():
        _api.get_current_span().set_attribute(key, value)


def inject(headers: dict[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) of the current span to outgoing headers."""
    if _tracer is None:
        return
    dropped = _dropped_trace.get()
    if dropped:
        # what the SDK's non-recording root would have carried: the trace id, a span id, not sampled
        random_id = _api.TraceFlags.RANDOM_TRACE_ID if _ids.is_trace_id_random() else 0
        root = _api.SpanContext(dropped, _ids.generate_span_id(), False, _api.TraceFlags(random_id))
        _propagate.inject(headers, context=_api.set_span_in_context(_api.NonRecordingSpan(root)))
    else:
        _propagate.inject(headers)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, for log lines (None when off or outside a span)."""
    if _tracer is None:
        return None
    dropped = _dropped_trace.get()
    if dropped:
        return f"{dropped:032x}"
    context = _api.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
