"""The gateway as an OAuth 2.1 resource server (MCP authorization): who signed in, proven by the issuer's keys."""
