"""An embedded BAW: token endpoints (OAuth2, IAM + Zen) and the classic REST lookup, over HTTPS with its own CA.

Used by `baw-gateway demo`/`simulate`, the integration tests and the benchmarks. It speaks BAW's JSON shapes
and error codes (reference/baw-rest.md), so the gateway is exercised on the same path as against a real server.
"""
