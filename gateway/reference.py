"""docs/configuration.md, written from the settings' own declarations (config.py) by `make docs`; a test fails when
the committed file differs, so the reference cannot drift from what the gateway reads."""

from __future__ import annotations

from dataclasses import MISSING

from gateway.config import GONE, GROUPS, SET_BY_THE_GATEWAY, PluginSettings, Settings, Var, declared

INTRO = """\
# Configuration

<!-- Written by `make docs` from gateway/config.py, where each setting is declared once. Do not edit by hand. -->

The gateway is configured by environment variables; their names are a contract. Every secret can also be given as
`NAME_FILE`, a path re-read at each credential renewal, so a rotated Kubernetes secret takes effect without a
restart; a secret given inline is moved out of the process's environment at start. Bad or missing configuration
exits with status 2 and one message naming every problem; a variable in the gateway's prefixes (`GATEWAY_`,
`BAW_`, `PLUGIN_`) that it does not know is one, named with the one likely meant.

`baw-gateway check-config` prints the effective configuration with secrets masked; `check-config --probe` then
gets one BAW credential and makes one lookup, as `serve` would, and exits 1 with the fix when BAW or its sign-in
does not answer. TLS verification cannot be turned off: there is no variable for it.
"""


def _default(default: object) -> str:
    if default is MISSING or default is None or default == ():
        return "—"
    if isinstance(default, bool):
        return "`on`" if default else "`off`"
    if isinstance(default, float) and default.is_integer():
        default = int(default)
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    return f"`{default}`"


def _row(var: Var, default: object) -> str:
    name = f"`{var.env}`" + (" (or `_FILE`)" if var.kind.secret else "")
    shown = var.shown_default if var.shown_default is not None else _default(default)
    cells = (name, shown, var.kind.accepts, var.used, var.meaning)
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render() -> str:
    rows = [(var, f.default) for cls in (Settings, PluginSettings) for f, var in declared(cls)]
    out = [INTRO]
    for group in GROUPS:
        out += [f"## {group}", "", "| variable | default | accepts | used when | meaning |", "|---|---|---|---|---|"]
        out += [_row(var, default) for var, default in rows if var.group == group]
        out.append("")
    out += ["## Set by the gateway itself, and gone", ""]
    out += [
        f"- `{name}`: set by the `GATEWAY_WORKERS` supervisor in each worker's environment."
        for name in SET_BY_THE_GATEWAY
    ]
    out += [f"- `{name}` is gone and refused at start: {instead}." for name, instead in GONE.items()]
    return "\n".join(out) + "\n"
