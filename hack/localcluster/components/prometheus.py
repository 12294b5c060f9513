"""Prometheus, the server that scrapes each service's ``/~metrics`` in the monitoring tests.

Built without service discovery plugins (tag ``remove_all_sd``: scrape targets come from static
configuration, which is all the tests need, and the build skips every cloud SDK) and without the
web UI's assets (no ``builtinassets``): the HTTP API, PromQL included, is all there is.
"""

from __future__ import annotations

from .. import versions
from ..gobuild import GoComponent

PROMETHEUS = GoComponent(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    version=versions.PROMETHEUS,
    packages=("github.com/prometheus/prometheus/cmd/prometheus",),
    ldflags=(f"-X github.com/prometheus/common/version.Version={versions.PROMETHEUS_RELEASE}",),
    tags=("remove_all_sd",),
)
