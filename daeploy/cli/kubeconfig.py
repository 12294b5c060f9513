"""The user's kubeconfig files, read like kubectl reads them, with errors naming file and fix.

The kubernetes client's own loader trusts the file: malformed YAML or a file of the wrong shape
ends in a Python traceback there. Everything it would trip over is checked here first, and only
a checked file is handed to it for the credentials.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from daeploy.cli.errors import CliError, InputError

DEFAULT_PATH = "~/.kube/config"
# section -> the key each of its entries keeps its settings under
SECTIONS = {"clusters": "cluster", "contexts": "context", "users": "user"}
FIX = "fix the file, or point KUBECONFIG at your cluster's kubeconfig"


def locate() -> tuple[str, list[str]]:
    """KUBECONFIG (read now, not at import time) or ~/.kube/config, and the files it names.

    Missing files are skipped, as kubectl skips them; a folder is refused, since it is surely
    a mistake (the folder instead of the file in it).
    """
    setting = os.environ.get("KUBECONFIG") or DEFAULT_PATH
    files: list[str] = []
    for entry in setting.split(os.pathsep):
        if not entry:
            continue
        path = Path(os.path.expanduser(entry))
        if path.is_dir():
            raise CliError(
                f"kubeconfig {path} is a folder, not a file: point KUBECONFIG at the "
                f"kubeconfig file itself (for example {path / 'config'})"
            )
        if path.exists():
            files.append(str(path))
    return setting, files


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without PyYAML's multi-line excerpt of the file."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f" (line {mark.line + 1}, column {mark.column + 1}): {exc.problem or exc.context}"
    return f": {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _type_name(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def read(path: str) -> dict[str, Any]:
    """One kubeconfig file, checked for the shape the client's loader relies on."""
    try:
        data = yaml.safe_load(Path(path).read_bytes())
    except OSError as exc:
        raise CliError(
            f"cannot read kubeconfig {path}: {exc.strerror or exc}: make it readable "
            f"(chmod 600 {path}) or point KUBECONFIG at another file"
        ) from None
    except yaml.YAMLError as exc:
        raise CliError(f"kubeconfig {path} is not valid YAML{_yaml_problem(exc)}; {FIX}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CliError(
            f"kubeconfig {path} is not a kubeconfig: it holds {_type_name(data)}, not a mapping "
            f"with clusters, contexts and users; {FIX}"
        )
    for section, key in SECTIONS.items():
        entries = data.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list) or not all(
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get(key) or {}, dict)
            for entry in entries
        ):
            raise CliError(
                f"kubeconfig {path} is not a kubeconfig: {section!r} must be a list of entries "
                f"with a 'name' and a {key!r} mapping; {FIX}"
            )
    current = data.get("current-context")
    if current is not None and not isinstance(current, str):
        raise CliError(f"kubeconfig {path} is not a kubeconfig: 'current-context' is not a name")
    return data


@dataclass
class Kubeconfig:
    """The merged files; as in kubectl, the first file to define a name or setting wins."""

    files: list[str]
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)
    clusters: set[str] = field(default_factory=set)
    current: str | None = None

    @property
    def source(self) -> str:
        return os.pathsep.join(self.files)

    @classmethod
    def load(cls, files: list[str]) -> Kubeconfig:
        merged = cls(files)
        for path in files:
            data = read(path)
            for entry in data.get("contexts") or []:
                merged.contexts.setdefault(entry["name"], entry.get("context") or {})
            merged.clusters.update(entry["name"] for entry in data.get("clusters") or [])
            merged.current = merged.current or data.get("current-context") or None
        return merged

    def choose(self, requested: str | None) -> tuple[str, dict[str, Any]]:
        """The context to use (``requested``, else the current one) and its settings."""
        if not self.contexts:
            raise CliError(
                f"kubeconfig {self.source} has no contexts, so it names no cluster to use: "
                "point KUBECONFIG at your cluster's kubeconfig"
            )
        if requested is not None and requested not in self.contexts:
            raise InputError(
                f"--context {requested!r} is not in {self.source}: "
                f"available contexts: {', '.join(self.contexts)}"
            )
        name = requested or self.current
        if not name:
            raise CliError(
                f"{self.source} has no current context: pick one with --context "
                "or `kubectl config use-context NAME`"
            )
        if name not in self.contexts:
            raise CliError(
                f"the current context {name!r} is not defined in {self.source}: pick one of "
                f"{', '.join(self.contexts)} with --context or `kubectl config use-context NAME`"
            )
        settings = self.contexts[name]
        cluster = settings.get("cluster")
        if cluster not in self.clusters:
            defined = ", ".join(sorted(self.clusters)) or "none"
            raise CliError(
                f"context {name!r} uses cluster {cluster!r}, which {self.source} does not define "
                f"(clusters: {defined}): add it under 'clusters', or pick another context with "
                "--context"
            )
        return name, settings

    def configure(self, context: str, configuration: client.Configuration) -> None:
        """Server and credentials of ``context`` into ``configuration``, by the client's loader."""
        # The loader only logs a failed credential plugin (`users[].user.exec`), and its
        # logging.error() would set up logging for every later library warning too.
        failures = _Collect()
        root = logging.getLogger()
        root.addHandler(failures)
        try:
            config.load_kube_config(
                config_file=self.source,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except ConfigException as exc:
            raise CliError(
                f"cannot use context {context!r} from {self.source}: {exc}; "
                "fix the kubeconfig or pick another context with --context"
            ) from None
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # The loader trusts the values' types; a wrong one (a number for a server) ends here.
            raise CliError(
                f"cannot use context {context!r} from {self.source}: a setting has the wrong "
                f"form ({type(exc).__name__}: {exc}); fix the kubeconfig"
            ) from None
        finally:
            root.removeHandler(failures)
        if failures.messages:
            raise CliError(
                f"cannot use context {context!r} from {self.source}: its user's credential "
                f"plugin failed ({failures.messages[0]}); install the plugin or fix the "
                "user's 'exec' entry in the kubeconfig"
            )
        if not _usable_url(configuration.host or ""):
            cluster = self.contexts[context].get("cluster")
            raise CliError(
                f"cluster {cluster!r} in {self.source} has no usable server URL "
                f"({configuration.host!r}): set its 'server' to the API server's URL, "
                "such as https://127.0.0.1:6443"
            )


def _usable_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        return False


class _Collect(logging.Handler):
    """Keeps the messages of error records instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))
