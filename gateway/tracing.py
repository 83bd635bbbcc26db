"""OpenTelemetry traces: off unless the standard variables ask for them, and free when off.

Enabled by OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_TRACES_EXPORTER=otlp);
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG) are read
by the SDK itself. Spans follow one question through the gateway: the server span of the request, the MCP tool
call (named and attributed per the MCP semantic conventions), the lookup with its cache decision, each BAW call (a
client span, `traceparent` sent on to BAW) and credential renewals.

OpenTelemetry keeps its tracer provider process-wide; this module holds the one tracer the gateway uses, set once
by `configure` (or a test's `use`). While it is None every helper here returns at once: no import of the SDK, no
span objects, no context switches. Inside a trace the sampler did not keep, no child span is made (the standard
samplers decide the same for a trace's every span); the trace context still travels to BAW.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Mapping

_tracer: Any = None
_api: Any = None  # opentelemetry.trace, once tracing is on
_context: Any = None  # opentelemetry.context
_propagate: Any = None  # opentelemetry.propagate
_kinds: dict[str, Any] = {}
_NOOP: AbstractContextManager[None] = nullcontext()
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
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use(provider)
    return True


def use(provider: Any) -> None:
    """Trace with this provider (None: stop tracing). Tests pass one with an in-memory exporter."""
    global _tracer, _api, _context, _propagate, _kinds
    if provider is None:
        _tracer = None
        return
    from opentelemetry import context, propagate, trace  # noqa: PLC0415 - only when traces are on

    from gateway import __version__  # noqa: PLC0415

    _api, _context, _propagate = trace, context, propagate
    _kinds = {"server": trace.SpanKind.SERVER, "client": trace.SpanKind.CLIENT, "internal": trace.SpanKind.INTERNAL}
    _tracer = provider.get_tracer("baw-gateway", __version__)


def active() -> bool:
    return _tracer is not None


def recording() -> bool:
    """Whether a span made now may be kept: tracing is on and no trace the sampler dropped is current. Where a span
    site is cheaper skipped than asked (its attributes, its context manager), it asks this first."""
    if _tracer is None:
        return False
    current = _api.get_current_span()
    return bool(current.is_recording() or not current.get_span_context().is_valid)


def span(
    name: str,
    *,
    kind: str = "internal",
    carrier: Mapping[str, str] | None = None,
    attributes: dict[str, Any] | None = None,
) -> AbstractContextManager[Any]:
    """A span around the block (yielding it, or None while tracing is off): current within it, an exception leaving
    it recorded with an ERROR status, ended after it. `carrier`: W3C headers to continue (an inbound request's, or
    an MCP message's `_meta`)."""
    if _tracer is None:
        return _NOOP
    if carrier:
        started = _tracer.start_span(
            name, context=_propagate.extract(carrier), kind=_kinds[kind], attributes=attributes
        )
        return _api.use_span(started, end_on_exit=True)
    if not recording():
        return _NOOP
    return _api.use_span(_tracer.start_span(name, kind=_kinds[kind], attributes=attributes), end_on_exit=True)


def annotate(key: str, value: Any) -> None:
    """Set an attribute on the current span (the BAW call's status, known deep inside the call)."""
    if _tracer is not None:
        _api.get_current_span().set_attribute(key, value)


def inject(headers: dict[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) of the current span to outgoing headers."""
    if _tracer is not None:
        _propagate.inject(headers)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, for log lines (None when off or outside a span)."""
    if _tracer is None:
        return None
    context = _api.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
