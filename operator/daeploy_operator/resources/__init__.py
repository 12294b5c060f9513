"""Pure manifest builders, one module per Kubernetes kind: a spec goes in, a dict comes out.

Nothing here talks to the API server, so every builder is table-tested without a cluster.
"""
