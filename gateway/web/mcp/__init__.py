"""The MCP face: the endpoint with its JSON-RPC screen, the tool calls, and the direct path."""
