from __future__ import annotations

import json
from pathlib import Path

import pytest
from yarl import URL

from gateway.__main__ import main
from gateway.config import ConfigError, known_variables, load_settings

OAUTH = {"BAW_BASE_URL": "https://baw.example.com:9443", "BAW_CLIENT_ID": "gw", "BAW_CLIENT_SECRET": "cs-9f8e7d"}


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(OAUTH)
    assert settings.baw_auth == "oauth2"
    assert settings.baw_token_url == URL("https://baw.example.com:9443/oauth2/token")
    assert settings.baw_timeout_s == 10 and settings.baw_max_connections == 64
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.public_url == URL("http://localhost:8080")
    assert (settings.log_level, settings.log_format) == ("INFO", "json")


def test_base_url_keeps_its_path_prefix() -> None:
    settings = load_settings({**OAUTH, "BAW_BASE_URL": "https://cpd-ns.apps.x/bas/"})
    assert settings.baw_base_url == URL("https://cpd-ns.apps.x/bas")
    assert settings.baw_token_url == URL("https://cpd-ns.apps.x/bas/oauth2/token")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "BAW_AUTH": "kerberos",
                "BAW_TIMEOUT_S": "soon",
                "GATEWAY_PORT": "70000",
                "GATEWAY_LOG_FORMAT": "xml",
                "BAW_MAX_CONNECTIONS": "0",
            }
        )
    text = str(caught.value)
    for name in (
        "BAW_BASE_URL",
        "BAW_AUTH",
        "BAW_TIMEOUT_S",
        "GATEWAY_PORT",
        "GATEWAY_LOG_FORMAT",
        "BAW_MAX_CONNECTIONS",
    ):
        assert name in text
    assert len(caught.value.problems) == 6


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"BAW_AUTH": "oauth2"}, ["BAW_CLIENT_ID", "BAW_CLIENT_SECRET"]),
        ({"BAW_AUTH": "zen"}, ["BAW_IAM_URL", "BAW_ZEN_URL", "BAW_USERNAME", "BAW_PASSWORD"]),
        ({"BAW_AUTH": "zen_api_key"}, ["BAW_USERNAME", "BAW_API_KEY"]),
        ({"BAW_AUTH": "basic"}, ["BAW_USERNAME", "BAW_PASSWORD"]),
    ],
)
def test_each_auth_mode_names_what_it_needs(env: dict[str, str], missing: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"BAW_BASE_URL": "https://baw.example.com", **env})
    assert caught.value.problems == [f"BAW_AUTH={env['BAW_AUTH']} needs {name}" for name in missing]


def test_plain_http_to_baw_is_refused() -> None:
    with pytest.raises(ConfigError, match="BAW_BASE_URL.*https"):
        load_settings({**OAUTH, "BAW_BASE_URL": "http://baw.example.com"})


def test_secret_file_is_read_again_on_every_use(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("first\n")
    settings = load_settings({**OAUTH, "BAW_CLIENT_SECRET": "", "BAW_CLIENT_SECRET_FILE": str(secret)})
    assert settings.baw_client_secret.read() == "first"
    secret.write_text("rotated")
    assert settings.baw_client_secret.read() == "rotated"


def test_secret_given_twice_or_unreadable_is_a_problem_without_its_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**OAUTH, "BAW_CLIENT_SECRET_FILE": str(tmp_path / "missing")})
    assert "set BAW_CLIENT_SECRET or BAW_CLIENT_SECRET_FILE, not both" in caught.value.problems
    assert "cs-9f8e7d" not in str(caught.value)
    with pytest.raises(ConfigError, match="BAW_PASSWORD_FILE.*cannot be read"):
        load_settings({**OAUTH, "BAW_AUTH": "basic", "BAW_USERNAME": "u", "BAW_PASSWORD_FILE": str(tmp_path / "nope")})


def test_secrets_never_show_in_repr_or_description() -> None:
    settings = load_settings(OAUTH)
    assert "cs-9f8e7d" not in repr(settings)
    assert ("BAW_CLIENT_SECRET", "***") in settings.describe()


def test_ca_bundle_must_hold_a_certificate(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ConfigError, match="BAW_CA_BUNDLE"):
        load_settings({**OAUTH, "BAW_CA_BUNDLE": str(bogus)})
    with pytest.raises(ConfigError, match="BAW_CA_BUNDLE"):
        load_settings({**OAUTH, "BAW_CA_BUNDLE": str(tmp_path / "absent.pem")})


def test_plugin_fields_are_held_to_the_hosts_limits() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                **OAUTH,
                "PLUGIN_NAME_FOR_HUMAN": "A name far longer than twenty",
                "PLUGIN_NAME_FOR_MODEL": "has spaces",
                "PLUGIN_CONTACT_EMAIL": "nobody",
            }
        )
    assert len(caught.value.problems) == 3


def test_check_config_prints_masked_settings_and_exits_0(monkeypatch, capsys) -> None:
    for name, value in OAUTH.items():
        monkeypatch.setenv(name, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "BAW_BASE_URL=https://baw.example.com:9443" in out
    assert "BAW_CLIENT_SECRET=***" in out
    assert "cs-9f8e7d" not in out


def test_bad_configuration_exits_2_with_one_message(monkeypatch, capsys) -> None:
    monkeypatch.setenv("BAW_AUTH", "basic")
    monkeypatch.setenv("BAW_PASSWORD", "pw-d00d1e")
    monkeypatch.delenv("BAW_BASE_URL", raising=False)
    monkeypatch.delenv("BAW_USERNAME", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "BAW_BASE_URL is required" in err and "BAW_USERNAME" in err
    assert "Traceback" not in err and "pw-d00d1e" not in err


def test_more_baw_calls_than_pooled_connections_is_refused_at_start() -> None:
    """Calls beyond the pool waited for a connection inside their BAW timeout and surfaced as BAW timeouts."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**OAUTH, "GATEWAY_BAW_CONCURRENCY": "65", "BAW_MAX_CONNECTIONS": "64"})
    assert "GATEWAY_BAW_CONCURRENCY=65 is more than BAW_MAX_CONNECTIONS=64" in str(caught.value)


def test_the_old_breaker_variable_says_what_replaced_it() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_BREAKER_FAILURE_RATE"):
        load_settings({**OAUTH, "GATEWAY_BREAKER_FAILURES": "5"})


def test_trusted_proxies_are_cidrs_and_shown_by_check_config() -> None:
    settings = load_settings({**OAUTH, "GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"})
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.0/8", "fd00::/8"]
    assert ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,fd00::/8") in settings.describe()
    with pytest.raises(ConfigError, match="GATEWAY_TRUSTED_PROXIES"):
        load_settings({**OAUTH, "GATEWAY_TRUSTED_PROXIES": "ingress"})


def test_the_redis_url_is_checked_and_shown_without_its_password() -> None:
    settings = load_settings({**OAUTH, "GATEWAY_REDIS_URL": "rediss://:pw-7a7a@redis.ns.svc:6380/0"})
    shown = dict(settings.describe())["GATEWAY_REDIS_URL"]
    assert shown == "rediss://***@redis.ns.svc:6380/0" and "pw-7a7a" not in repr(settings)
    with pytest.raises(ConfigError, match="GATEWAY_REDIS_URL is not valid"):
        load_settings({**OAUTH, "GATEWAY_REDIS_URL": "http://redis:6379"})
    with pytest.raises(ConfigError, match="GATEWAY_REDIS_PREFIX"):
        load_settings({**OAUTH, "GATEWAY_REDIS_URL": "redis://r:6379", "GATEWAY_REDIS_PREFIX": "a b"})


def test_workers_are_bounded_and_share_their_state_through_redis() -> None:
    """Workers are processes: without Redis each would hold its own limits, sessions and sign-ins."""
    assert load_settings(OAUTH).workers == 1
    for wrong in ("0", "65", "two"):
        with pytest.raises(
            ConfigError, match="GATEWAY_WORKERS='.*' is not valid: expected a whole number from 1 to 64"
        ):
            load_settings({**OAUTH, "GATEWAY_WORKERS": wrong})
    with pytest.raises(ConfigError, match="GATEWAY_WORKERS=2 needs GATEWAY_REDIS_URL"):
        load_settings({**OAUTH, "GATEWAY_WORKERS": "2"})
    settings = load_settings({**OAUTH, "GATEWAY_WORKERS": "4", "GATEWAY_REDIS_URL": "redis://r:6379"})
    assert settings.workers == 4 and ("GATEWAY_WORKERS", "4") in settings.describe()


FACADE = {
    **OAUTH,
    "GATEWAY_PUBLIC_URL": "https://gateway.example.com",
    "GATEWAY_OAUTH_PROXY_UPSTREAM_ISSUER": "https://idp.example.com",
    "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_ID": "gw",
    "GATEWAY_OAUTH_PROXY_UPSTREAM_CLIENT_SECRET": "s-1",
}


def test_workers_behind_the_oauth_facade_need_one_signing_key() -> None:
    facade = {**FACADE, "GATEWAY_WORKERS": "2", "GATEWAY_REDIS_URL": "redis://r:6379"}
    with pytest.raises(ConfigError, match="needs GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE"):
        load_settings(facade)


def test_an_agents_file_is_checked_whole(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s")
    agents = tmp_path / "agents.json"
    entries = [
        {"client_id": "ok", "secret_file": str(secret), "scopes": ["baw.read"]},
        {"client_id": "no-secret", "secret_file": "/nonexistent", "scopes": ["baw.read"]},
        {"client_id": "greedy", "secret_file": str(secret), "scopes": ["admin"]},
    ]
    agents.write_text(json.dumps(entries))
    with pytest.raises(ConfigError) as caught:
        load_settings({**OAUTH, "GATEWAY_OAUTH_AGENTS_FILE": str(agents)})
    problems = "\n".join(caught.value.problems)
    assert "entry 2" in problems and "neither in GATEWAY_OAUTH_SCOPES" in problems and "needs the façade" in problems


def test_the_portal_url_must_say_where_the_id_goes() -> None:
    with pytest.raises(ConfigError, match="BAW_PORTAL_URL"):
        load_settings({**OAUTH, "BAW_PORTAL_URL": "https://baw.example.com/ProcessPortal"})
    settings = load_settings({**OAUTH, "BAW_PORTAL_URL": "https://baw.example.com/ProcessPortal?piid={id}"})
    assert settings.baw_portal_url == "https://baw.example.com/ProcessPortal?piid={id}"


def test_a_misspelt_variable_is_named_with_the_one_meant() -> None:
    """Issue 30: GATEWAY_API_KEY=oops was ignored ("configuration is valid") and the gateway stayed open."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**OAUTH, "GATEWAY_API_KEY": "oops", "BAW_TIMEOUT": "5", "GATEWAY_NO_SUCH_THING": "1"})
    problems = caught.value.problems
    assert "GATEWAY_API_KEY is not a setting of the gateway: did you mean GATEWAY_API_KEYS?" in problems
    assert "BAW_TIMEOUT is not a setting of the gateway: did you mean BAW_TIMEOUT_S?" in problems
    assert "GATEWAY_NO_SUCH_THING is not a setting of the gateway" in problems
    load_settings({**OAUTH, "GATEWAY_API_KEYS_FILE": __file__, "SOMETHING_ELSE": "x"})  # others' variables pass


def test_the_facade_on_several_replicas_needs_one_signing_key() -> None:
    facade = {**FACADE, "GATEWAY_REDIS_URL": "redis://redis:6379/0"}
    with pytest.raises(ConfigError, match="cluster mode .* needs GATEWAY_OAUTH_PROXY_SIGNING_KEY_FILE"):
        load_settings(facade)


def test_the_env_example_names_only_settings_the_gateway_knows() -> None:
    """The newcomer's starting point (.env.example) must not teach a variable the gateway ignores."""
    example = Path(__file__).resolve().parents[2] / ".env.example"
    env = dict(line.split("=", 1) for line in example.read_text().splitlines() if line and not line.startswith("#"))
    assert {"BAW_BASE_URL", "BAW_AUTH", "GATEWAY_PUBLIC_URL"} <= set(env)
    assert set(env) - known_variables() == set()
