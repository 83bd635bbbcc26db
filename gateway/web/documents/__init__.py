"""What the gateway describes itself with: the OpenAPI document, the plugin manifest, OAuth discovery."""
