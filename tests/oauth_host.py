"""An LLM host's side of the OAuth sign-in, with the MCP SDK's client provider, shared by the OAuth tests."""

from __future__ import annotations

from typing import Awaitable, Callable

from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def host_provider(
    server_url: str,
    redirect_uri: str,
    storage: MemoryStorage,
    sign_in: Callable[[str], Awaitable[dict[str, str]]],
    client_metadata_url: str | None = None,
) -> OAuthClientProvider:
    """The SDK's provider as a public host uses it (PKCE, no client secret). `sign_in` plays the browser: given
    the authorization URL, it returns the query of the redirect back to the host (code, state, iss)."""
    redirected: dict[str, str] = {}

    async def open_browser(url: str) -> None:
        redirected.update(await sign_in(url))

    async def callback() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=redirected["code"], state=redirected.get("state"), iss=redirected.get("iss")
        )

    return OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="test host",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=open_browser,
        callback_handler=callback,
        client_metadata_url=client_metadata_url,
    )
