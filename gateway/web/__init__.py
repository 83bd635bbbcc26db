"""The HTTP face: handlers, schemas, middlewares, the plugin manifest and the OpenAPI document."""
