"""Cluster mode: state that must agree across replicas, on Redis (GATEWAY_REDIS_URL), with each replica's own
in-process state as the fallback. Redis is a helper, never a point of failure (see link.py)."""
