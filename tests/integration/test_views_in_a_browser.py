"""The views in a real browser (issue 27): a test page plays the host with the official SDK's host side, embeds
each view in a sandboxed iframe, speaks the bridge, and feeds it answers the gateway gave; headless Chromium shows
what a person would see, in both themes, and that no request leaves for another origin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aiohttp import web

from gateway.web.tools import views
from tests.debian import debian_binary

HOST_DIR = Path(__file__).resolve().parents[1] / "views"


def _chromium() -> str:
    return debian_binary(("chromium", "chromium-browser"), "chromium", "the views' browser test")


def _host_app(cases: dict[str, dict]) -> web.Application:
    async def host(request: web.Request) -> web.Response:
        case = json.dumps(cases[request.query["case"]]).replace("</", "<\\/")
        page = (
            "<!doctype html><html><head><meta charset=utf-8><title>host</title>"
            "<style>body{margin:0;padding:8px;background:#fff}:root[data-theme=dark] body{background:#0d1117}"
            "iframe{border:0;width:640px;height:420px;display:block}</style></head><body>"
            f"<script>window.CASE = {case};</script><script type=module src=/host.bundle.js></script></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def bundle(_: web.Request) -> web.Response:
        return web.Response(body=(HOST_DIR / "host.bundle.js").read_bytes(), content_type="text/javascript")

    async def view(request: web.Request) -> web.Response:
        return web.Response(text=views.html(request.match_info["name"]), content_type="text/html")

    app = web.Application()
    app.router.add_get("/host.html", host)
    app.router.add_get("/host.bundle.js", bundle)
    app.router.add_get("/view/{name}.html", view)
    return app


def _result(data: dict, *, error: bool = False) -> dict:
    if error:
        return {"content": [{"type": "text", "text": data["error"]["message"]}], "isError": True}
    return {"content": [{"type": "text", "text": json.dumps(data)}], "structuredContent": data}


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only this test drives a browser

    executable = _chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        await launched.close()


async def test_each_view_shows_its_answer_in_both_themes(gateway, aiohttp_server, browser, tmp_path) -> None:
    # `make views-png` keeps the pictures for the README and docs/hosts.md; otherwise they go to the test's own folder.
    pictures = Path(os.environ.get("VIEWS_SCREENSHOTS") or tmp_path)
    pictures.mkdir(parents=True, exist_ok=True)

    async def picture(name: str) -> None:
        await page.locator("iframe").screenshot(path=str(pictures / f"{name}.png"))

    async def answer(path: str) -> dict:
        response = await gateway.get(path)
        return await response.json()

    cases = {
        "running": {
            "arguments": {"process_id": "23972"},
            "result": _result(await answer("/baw/process-status?process_id=23972")),
        },
        "failed": {
            "arguments": {"process_id": "881"},
            "result": _result(await answer("/baw/process-failure?process_id=881")),
        },
        "completed": {
            "arguments": {"process_id": "1500"},
            "result": _result(await answer("/baw/process-status?process_id=1500")),
        },
        "tasks": {
            "arguments": {"process_id": "23972"},
            "result": _result(await answer("/baw/process-tasks?process_id=23972&state=all")),
            "calls": {"get_task": _result(await answer("/baw/task?task_id=189489"))},
        },
        "no-tasks": {
            "arguments": {"process_id": "881"},
            "result": _result(
                {"process_id": "881", "state": "open", "total": 0, "tasks": [], "truncated": False, "next_cursor": None}
            ),
        },
        "search": {"arguments": {"app": "PROC"}, "result": _result(await answer("/baw/processes?app=PROC"))},
        "overview": {"arguments": {}, "result": _result(await answer("/baw/process-overview"))},
        "error": {
            "arguments": {"process_id": "999999"},
            "result": _result(await answer("/baw/process-status?process_id=999999"), error=True),
        },
    }
    server = await aiohttp_server(_host_app(cases))
    origin = f"http://127.0.0.1:{server.port}"
    page = await browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    logs: list[str] = []
    page.on("console", lambda message: logs.append(message.text))

    async def show(view: str, case: str, theme: str = "light", locale: str = "en-US"):
        await page.goto(f"{origin}/host.html?view={view}&case={case}&theme={theme}&locale={locale}")
        await page.wait_for_function("window.delivered === true", timeout=15_000)
        return page.frame_locator("iframe")

    frame = await show("instance-card", "running")
    await frame.get_by_role("heading", name="Loan Application:23972").wait_for()
    assert await frame.locator(".badge").first.inner_text() == "Active"
    assert await frame.get_by_text("assigned to").count() >= 1
    await picture("card-light")
    frame = await show("instance-card", "running", theme="dark", locale="de-DE")
    await frame.get_by_role("heading", name="Loan Application:23972").wait_for()
    assert await frame.locator("html").get_attribute("data-theme") == "dark"
    assert await frame.locator("html").get_attribute("lang") == "de-DE"
    await picture("card-dark")

    frame = await show("instance-card", "failed")
    await frame.get_by_text("Why it failed").wait_for()
    assert await frame.locator(".badge").first.inner_text() == "Failed"

    frame = await show("instance-card", "completed")
    await frame.locator(".badge").first.wait_for()
    assert await frame.locator(".badge").first.inner_text() in ("Completed", "Terminated", "Active")

    frame = await show("task-list", "tasks")
    await frame.locator("table").wait_for()
    await frame.get_by_role("button", name="Task").click()  # sort by name, by keyboard-reachable buttons
    details = frame.get_by_role("button", name="Details").first
    await details.focus()
    await page.keyboard.press("Enter")  # a task's details, through the host
    await frame.locator(".details h3").wait_for()
    assert [call["name"] for call in await page.evaluate("window.calls")] == ["get_task"]
    await picture("tasks-light")

    frame = await show("task-list", "no-tasks")
    await frame.get_by_text("No tasks.").wait_for()

    frame = await show("instance-table", "search")
    await frame.locator("table").wait_for()
    assert await frame.locator("tbody tr").count() >= 1
    frame = await show("instance-table", "overview")
    await frame.locator(".counts").wait_for()
    frame = await show("instance-table", "search", theme="dark")
    await frame.locator("table").wait_for()
    await picture("table-dark")

    frame = await show("instance-card", "error")
    alert = frame.get_by_role("alert")
    await alert.wait_for()
    assert "999999" in await alert.inner_text()

    foreign = [url for url in requests if not url.startswith((origin, "about:", "data:"))]
    assert not foreign, foreign
