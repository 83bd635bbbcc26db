"""How the bench turns several measurements of a target into one row (no speed is asserted: rows are made up)."""

from __future__ import annotations

from tests.perf.bench import Bench


def _row(rate: float, p50: float, p99: float, errors: int = 0) -> dict[str, float]:
    return {"requests_per_s": rate, "p50_ms": p50, "p99_ms": p99, "errors": errors, "cpu_s_per_1000": 1000 / rate}


def test_targets_take_turns_and_each_keeps_its_fastest_run_its_lowest_percentiles_and_every_error() -> None:
    order: list[str] = []
    measured = {
        "gateway": iter([_row(900, 3.0, 9.0, errors=1), _row(1000, 3.5, 12.0)]),
        "reference": iter([_row(3000, 1.0, 2.0), _row(2500, 0.9, 2.5)]),
    }

    def run(name: str):  # type: ignore[no-untyped-def]
        def measure() -> dict[str, float]:
            order.append(name)
            return next(measured[name])

        return measure

    rows = Bench.side_by_side({name: run(name) for name in measured})
    assert order == ["gateway", "reference", "gateway", "reference"]  # turns, not one target's runs in a row
    assert rows["gateway"] == {**_row(1000, 3.0, 9.0), "errors": 1}
    assert rows["reference"] == _row(3000, 0.9, 2.0)
