"""Traces that follow one question from the host through the gateway to BAW (OpenTelemetry SDK, in-memory)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random

import aiohttp
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode

from gateway import tracing
from gateway.app import create_app
from gateway.config import load_settings
from tests.ports import free_port

HOST_TRACE = "0af7651916cd43dd8448eb211c80319c"
HOST_SPAN = "b7ad6b7169203331"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    yield exporter
    tracing.use(None)


def _traced_by(provider: TracerProvider):
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    return exporter


@pytest.fixture
def unsampled():
    """Roots dropped, remote parents followed: what `parentbased_traceidratio` does to the traces it leaves out."""
    yield _traced_by(TracerProvider(sampler=ParentBased(ALWAYS_OFF)))
    tracing.use(None)


class _Counting(IdGenerator):
    """Trace ids 1, 2, 3, ...: which request drew which id is known."""

    def __init__(self) -> None:
        self.drawn = 0

    def generate_trace_id(self) -> int:
        self.drawn += 1
        return self.drawn

    def generate_span_id(self) -> int:
        return 0xABC + self.drawn


class _EvenTraces(Sampler):
    """Keeps the traces with an even id, like a ratio sampler keeps those under its bound."""

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        return SamplingResult(Decision.RECORD_AND_SAMPLE if trace_id % 2 == 0 else Decision.DROP)

    def get_description(self) -> str:
        return "even trace ids"


def _tree(exporter) -> dict[str, object]:
    return {span.name: span for span in exporter.get_finished_spans()}


async def test_an_uncached_lookup_is_server_lookup_and_one_baw_client_span(gateway, simulator, spans) -> None:
    traceparent = f"00-{HOST_TRACE}-{HOST_SPAN}-01"
    response = await gateway.get("/baw/process-status?process_id=23972", headers={"traceparent": traceparent})
    assert response.status == 200
    tree = _tree(spans)
    server, lookup = tree["GET /baw/process-status"], tree["lookup process instance"]
    baw = tree["BAW process_details"]
    assert f"{server.context.trace_id:032x}" == HOST_TRACE and f"{server.parent.span_id:016x}" == HOST_SPAN
    assert server.kind is SpanKind.SERVER and server.attributes["http.response.status_code"] == 200
    assert lookup.parent.span_id == server.context.span_id and lookup.attributes["gateway.cache.result"] == "miss"
    assert baw.parent.span_id == lookup.context.span_id and baw.kind is SpanKind.CLIENT
    assert baw.attributes["url.template"] == "/rest/bpm/wle/v1/process/{piid}"
    assert baw.attributes["http.response.status_code"] == 200 and baw.attributes["gateway.baw.attempts"] == 1
    assert "23972" not in baw.name  # ids stay out of span names
    assert simulator.state.traceparents[-1].split("-")[1] == HOST_TRACE  # BAW received the trace


async def test_a_cached_lookup_has_no_baw_span(gateway, spans) -> None:
    await gateway.get("/baw/process-status?process_id=23972")
    spans.clear()
    await gateway.get("/baw/process-status?process_id=23972")
    tree = _tree(spans)
    assert tree["lookup process instance"].attributes["gateway.cache.result"] == "hit"
    assert not [name for name in tree if name.startswith("BAW ")]


async def test_a_retried_call_is_one_client_span_with_its_attempts(gateway, simulator, spans) -> None:
    simulator.state.faults.error_burst, simulator.state.faults.error_status = 2, 503
    assert (await gateway.get("/baw/process-status?process_id=2001")).status == 200
    baw = _tree(spans)["BAW process_details"]
    assert baw.attributes["gateway.baw.attempts"] == 3 and baw.attributes["http.response.status_code"] == 200


async def test_a_failed_lookup_marks_the_spans_it_left_as_errors(gateway, spans) -> None:
    """An error leaving a span's block is recorded on that span and sets its status to ERROR; the server span,
    whose request the error middleware answered, carries the status code."""
    assert (await gateway.get("/baw/process-status?process_id=999999")).status == 404
    tree = _tree(spans)
    server, lookup, baw = tree["GET /baw/process-status"], tree["lookup process instance"], tree["BAW process_details"]
    for span in (lookup, baw):
        assert span.status.status_code is StatusCode.ERROR and span.status.description.startswith("NotFound")
        assert [event.name for event in span.events] == ["exception"]
    assert baw.attributes["error.type"] == "not_found"
    assert server.status.status_code is StatusCode.UNSET and server.attributes["http.response.status_code"] == 404
    assert all(span.end_time is not None for span in (server, lookup, baw))


async def _call_in_host_trace(gateway, call_id: int, process_id: str):
    """A raw 2026-07-28 `tools/call` whose `_meta` carries the host's sampled trace."""
    meta = {
        "traceparent": f"00-{HOST_TRACE}-{HOST_SPAN}-01",
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    call = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": "get_process_status", "arguments": {"process_id": process_id}, "_meta": meta},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "get_process_status",
    }
    return await gateway.post("/mcp", json=call, headers=headers)


async def test_an_mcp_tool_call_continues_the_trace_in_its_meta(gateway, spans) -> None:
    response = await _call_in_host_trace(gateway, 7, "23972")
    assert response.status == 200, await response.text()
    tree = _tree(spans)
    tool = tree["tools/call get_process_status"]
    assert f"{tool.context.trace_id:032x}" == HOST_TRACE and f"{tool.parent.span_id:016x}" == HOST_SPAN
    assert tool.attributes["gen_ai.tool.name"] == "get_process_status"
    assert (
        tool.attributes["mcp.method.name"] == "tools/call" and tool.attributes["mcp.protocol.version"] == "2026-07-28"
    )
    assert tool.attributes["jsonrpc.request.id"] == "7"
    assert tree["lookup process instance"].parent.span_id == tool.context.span_id
    assert tree["BAW process_details"].context.trace_id == tool.context.trace_id


async def test_tracing_off_makes_no_spans(gateway, spans) -> None:
    tracing.use(None)  # a provider with an exporter exists, but the gateway was told to stop tracing
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    assert (await gateway.get("/baw/process-status?process_id=23972")).status == 200
    assert spans.get_finished_spans() == ()


async def test_a_trace_the_sampler_leaves_out_makes_no_span_yet_travels_to_baw(
    gateway, simulator, unsampled, caplog
) -> None:
    """An unsampled root costs no span objects, but BAW still receives its trace context (flagged not sampled) and
    the access line names the same trace id (what the log filter reads while the line is logged)."""
    logged: list[str | None] = []

    class TraceOfEachLine(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            logged.append(tracing.current_trace_id())
            return True

    caplog.handler.addFilter(TraceOfEachLine())
    with caplog.at_level("INFO", logger="gateway.access"):
        response = await gateway.get("/baw/process-status?process_id=23972")
    assert response.status == 200
    assert unsampled.get_finished_spans() == ()
    version, trace_id, span_id, flags = simulator.state.traceparents[-1].split("-")
    assert version == "00" and int(trace_id, 16) != 0 and int(span_id, 16) != 0
    assert not int(flags, 16) & 0x01  # not sampled: BAW's own tracing, if any, follows the decision
    assert logged and set(logged) == {trace_id}


async def test_an_mcp_meta_trace_is_followed_inside_a_request_the_sampler_left_out(gateway, unsampled) -> None:
    """The HTTP request starts no sampled trace, but the host's `_meta` names a sampled one: the tool call and all
    below it are recorded in the host's trace."""
    assert (await _call_in_host_trace(gateway, 8, "2001")).status == 200
    tree = _tree(unsampled)
    assert set(tree) == {"tools/call get_process_status", "lookup process instance", "BAW process_details"}
    assert {f"{span.context.trace_id:032x}" for span in tree.values()} == {HOST_TRACE}


async def test_one_draw_one_decision_the_sampled_trace_is_the_id_the_sampler_judged(
    aiohttp_client, gateway_env, simulator
) -> None:
    """The sampler's verdict on a root and the trace id the spans then carry belong together: with ids drawn 1, 2,
    3, ... and a sampler keeping even ids, four requests draw four consecutive ids (one each), BAW sees each, and
    exactly the even ones are recorded and flagged sampled."""
    provider = TracerProvider(sampler=_EvenTraces(), id_generator=_Counting())
    exporter = _traced_by(provider)
    try:
        client = await aiohttp_client(create_app(load_settings({**gateway_env, "GATEWAY_CACHE_TTL_S": "0"})))
        for _ in range(4):
            assert (await client.get("/baw/process-status?process_id=23972")).status == 200
    finally:
        tracing.use(None)
    received = [line.split("-") for line in list(simulator.state.traceparents)[-4:]]
    drawn = [int(trace_id, 16) for _, trace_id, _, _ in received]
    assert drawn == list(range(drawn[0], drawn[0] + 4))  # (the credential renewal at start drew ids before)
    assert [int(flags, 16) & 0x01 for _, _, _, flags in received] == [1 - trace_id % 2 for trace_id in drawn]
    servers = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]
    assert [span.context.trace_id for span in servers] == [trace_id for trace_id in drawn if trace_id % 2 == 0]


class _Alternating(Sampler):
    """Keeps every other root it is asked about, whatever the id: asked twice about one root, it answers both ways."""

    def __init__(self) -> None:
        self.asked = 0

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        self.asked += 1
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.asked % 2 else Decision.DROP)

    def get_description(self) -> str:
        return "every other ask"


def test_a_root_is_started_with_the_verdict_it_was_judged_by() -> None:
    """A sampler that is not a function of the trace id is asked once per root: the SDK starts the root with the
    verdict the gateway judged it by, rather than asking again and perhaps recording nothing of a kept trace."""
    sampler = _Alternating()
    exporter = _traced_by(TracerProvider(sampler=sampler))
    try:
        kept = []
        for _ in range(6):
            with tracing.span("root", kind="server") as root:
                kept.append(root is not None and root.is_recording())
    finally:
        tracing.use(None)
    assert kept == [True, False] * 3 and sampler.asked == 6
    assert len(exporter.get_finished_spans()) == 3


class _Given(IdGenerator):
    """Trace ids from a list, in order."""

    def __init__(self, trace_ids: list[int]) -> None:
        self._trace_ids = iter(trace_ids)

    def generate_trace_id(self) -> int:
        return next(self._trace_ids)

    def generate_span_id(self) -> int:
        return 0xABC


_RATIO_BOUND = TraceIdRatioBased.get_bound_for_rate(0.25)


@pytest.mark.parametrize(
    "sampler",
    [TraceIdRatioBased(0.25), ParentBasedTraceIdRatio(0.25), DEFAULT_ON, DEFAULT_OFF, ALWAYS_ON, ALWAYS_OFF],
    ids=lambda sampler: sampler.get_description()[:40],
)
def test_a_standard_sampler_s_roots_are_judged_as_the_sampler_judges_them(sampler, monkeypatch) -> None:
    """The standard samplers' verdict on a root is worked out without asking them (a bound on the trace id's low
    64 bits): it must be theirs, id for id, including both sides of the ratio's bound and ids whose high bits
    are set. They are asked only by the SDK, once per root it starts, never about a dropped one."""
    rng = random.Random(7)
    trace_ids = [rng.getrandbits(128) or 1 for _ in range(400)]
    trace_ids += [_RATIO_BOUND - 1, _RATIO_BOUND, (0xFFFF << 64) | (_RATIO_BOUND - 1), (0xFFFF << 64) | _RATIO_BOUND]
    expected = [sampler.should_sample(None, trace_id, "root").decision.is_sampled() for trace_id in trace_ids]
    asked: list[int] = []
    ask = sampler.should_sample
    monkeypatch.setattr(sampler, "should_sample", lambda *args, **kwargs: asked.append(1) or ask(*args, **kwargs))
    exporter = _traced_by(TracerProvider(sampler=sampler, id_generator=_Given(trace_ids)))
    try:
        judged = []
        for _ in trace_ids:
            with tracing.span("root", kind="server") as root:
                judged.append(root is not None)
    finally:
        tracing.use(None)
    assert judged == expected and len(asked) == sum(expected)
    assert [span.context.trace_id for span in exporter.get_finished_spans()] == [
        trace_id for trace_id, kept in zip(trace_ids, expected, strict=True) if kept
    ]


def test_the_exported_resource_is_hashed_once_and_groups_spans_as_the_sdk_s_own(monkeypatch) -> None:
    """The encoder looks every span's resource up by its hash: the gateway's resource is the SDK's, attributes and
    equality alike, whose hash is worked out once rather than once per exported span."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource

    hashings = []
    sdk_hash = Resource.__hash__
    monkeypatch.setattr(Resource, "__hash__", lambda self: hashings.append(1) or sdk_hash(self))
    plain = Resource.create({"service.name": "baw-gateway-test"})
    resource = tracing.hashed_once(plain)
    assert resource == plain and dict(resource.attributes) == dict(plain.attributes)
    assert hash(resource) == sdk_hash(plain) and resource.schema_url == plain.schema_url

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for name in ("one", "two", "three"):
        tracer.start_span(name).end()
    encoded = encode_spans(exporter.get_finished_spans())
    assert len(hashings) == 1  # three spans grouped, and the SDK's hash not asked again
    (grouped,) = encoded.resource_spans
    assert [span.name for scope in grouped.scope_spans for span in scope.spans] == ["one", "two", "three"]
    assert {kv.key: kv.value.string_value for kv in grouped.resource.attributes}["service.name"] == "baw-gateway-test"


async def test_the_process_exports_by_otlp_and_its_logs_carry_the_trace_id(gateway_process) -> None:
    """The standard variables switch traces on: spans reach an OTLP/HTTP collector (a real socket, protobuf), and
    the access line names both the request id and the trace id."""
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[str] = []
    port = free_port()

    async def collect(request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                received.extend(f"{span.name}|{span.trace_id.hex()}" for span in scope.spans)
        return web.Response(content_type="application/x-protobuf", body=b"")

    collector = web.Application()
    collector.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(collector)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        _, base, log = await gateway_process(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}",
            OTEL_SERVICE_NAME="baw-gateway-test",
            OTEL_BSP_SCHEDULE_DELAY="100",
            GATEWAY_LOG_FORMAT="json",
        )
        async with aiohttp.ClientSession() as http:
            headers = {"traceparent": f"00-{HOST_TRACE}-{HOST_SPAN}-01"}
            async with http.get(f"{base}/baw/process-status?process_id=23972", headers=headers) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-ID"]
        for _ in range(50):
            if f"BAW process_details|{HOST_TRACE}" in received:
                break
            await asyncio.sleep(0.1)
        assert f"GET /baw/process-status|{HOST_TRACE}" in received
        assert f"lookup process instance|{HOST_TRACE}" in received
        assert f"BAW process_details|{HOST_TRACE}" in received
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        access = [line for line in lines if line.get("request_id") == request_id and line.get("route")]
        assert access and access[0]["trace_id"] == HOST_TRACE
    finally:
        await runner.cleanup()


async def test_traces_asked_for_without_the_sdk_is_a_clear_configuration_error() -> None:
    import builtins

    real_import = builtins.__import__

    def without_exporter(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("opentelemetry.exporter"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    builtins.__import__ = without_exporter
    try:
        with pytest.raises(tracing.TracingUnavailable, match=r"baw-gateway\[tracing\]"):
            tracing.configure({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    finally:
        builtins.__import__ = real_import
    assert not tracing.active()
    assert not tracing.configure({"OTEL_SERVICE_NAME": "only a name"})  # no endpoint, no exporter: off


async def test_off_is_free_the_sdk_is_never_imported_while_serving(gateway_env) -> None:
    """Off means no tracer at all, not a no-op one: a fresh interpreter serves REST and MCP lookups through the
    whole stack, and neither the tracing SDK nor the propagators were ever imported. (redis-py imports the
    OpenTelemetry API and metrics SDK for its own optional instrumentation when they are installed; that is not
    ours and costs nothing per request.)"""
    import sys

    program = """
import asyncio, json, os, sys
from aiohttp.test_utils import TestClient, TestServer
from gateway.app import create_app
from gateway.config import load_settings

async def main():
    env = json.loads(os.environ["GATEWAY_TEST_ENV"])
    async with TestClient(TestServer(create_app(load_settings(env)))) as client:
        assert (await client.get("/baw/process-status?process_id=23972")).status == 200
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": {}}
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "get_process_status", "arguments": {"process_id": "2001"}, "_meta": meta}}
        headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
                   "Mcp-Method": "tools/call", "Mcp-Name": "get_process_status"}
        assert (await client.post("/mcp", json=call, headers=headers)).status == 200
    tracing = ("opentelemetry.sdk.trace", "opentelemetry.propagate")
    print(sorted(name for name in sys.modules if name.startswith(tracing)))

asyncio.run(main())
"""
    env = {"PATH": os.environ["PATH"], "GATEWAY_TEST_ENV": json.dumps(gateway_env)}
    # (asynchronously: the simulator answering it runs in this test's loop)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", program, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip() == "[]"
