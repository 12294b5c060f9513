"""A real single-node Kubernetes cluster built from the official Go modules, without Docker.

Every cluster process lives in its own network namespace with no default route; see
``network.py`` for the guards and ``/work/shared/docs/local-cluster.md`` for the verified facts.
"""
