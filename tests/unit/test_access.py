from __future__ import annotations

from pathlib import Path

from gateway.secret import Secret
from gateway.shared.limits import LocalRateLimiter as RateLimiter
from gateway.web.front.access import ApiKeys, is_protected
from tests.clock import ManualClock


def test_keys_match_whole_and_give_a_fingerprint_not_the_key() -> None:
    keys = ApiKeys(Secret("GATEWAY_API_KEYS", value="alpha-key-1, beta-key-2"))
    assert keys.enabled
    caller = keys.caller("beta-key-2")
    assert caller is not None and caller.startswith("key:") and "beta" not in caller
    assert keys.caller("alpha-key-1") != caller
    for wrong in ("", "beta-key", "beta-key-22", "alpha-key-1, beta-key-2"):
        assert keys.caller(wrong) is None


def test_a_rotated_key_file_takes_effect_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("old-key\n")
    clock = ManualClock()
    keys = ApiKeys(Secret("GATEWAY_API_KEYS", path=path), clock=clock)
    assert keys.caller("old-key")
    path.write_text("new-key-longer\n")
    clock.now += 1.0
    assert keys.caller("new-key-longer") and keys.caller("old-key") is None
    path.unlink()  # a file that vanishes mid-rotation keeps the keys loaded before
    clock.now += 1.0
    assert keys.caller("new-key-longer")


def test_without_keys_nothing_is_enabled() -> None:
    assert not ApiKeys(None).enabled


def test_only_lookups_are_protected() -> None:
    assert is_protected("/baw/process-status") and is_protected("/mcp")
    for path in (
        "/livez",
        "/readyz",
        "/metrics",
        "/.well-known/ai-plugin.json",
        "/openapi.json",
        "/docs",
        "/logo.png",
        "/legal",
    ):
        assert not is_protected(path)


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    assert limiter.retry_after("a") == 1
    assert limiter.retry_after("b") is None  # callers are independent
    clock.now += 0.5  # one token back at 2 per second
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == 1


def test_per_caller_state_is_bounded() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_callers=100)
    for n in range(10_000):
        limiter.retry_after(f"ip:10.0.{n // 256}.{n % 256}")
    assert len(limiter._buckets) == 100


def test_a_transient_read_error_is_tried_again_at_the_next_check(tmp_path: Path, monkeypatch) -> None:
    """The file's stamp used to be stored before the read: a failed read skipped the file until it changed again."""
    path = tmp_path / "keys"
    path.write_text("old-key\n")
    clock = ManualClock()
    secret = Secret("GATEWAY_API_KEYS", path=path)
    keys = ApiKeys(secret, clock=clock)
    path.write_text("rotated-key\n")
    real_read = Secret.read
    monkeypatch.setattr(Secret, "read", lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")))
    clock.now += 1.0
    assert keys.caller("old-key")  # the read failed: the keys loaded before stay
    monkeypatch.setattr(Secret, "read", real_read)
    clock.now += 1.0
    assert keys.caller("rotated-key") and keys.caller("old-key") is None
