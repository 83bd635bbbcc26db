"""Everything that knows BAW: TLS, credentials, the REST client and the shapes of its JSON."""
