"""A client of the OCI distribution API: only what a build needs, with Docker's auth flow.

Pushes check first (``HEAD``) and mount across repositories of one registry before uploading,
so a layer the registry already holds is never sent again. Plain HTTP is used for loopback and
private addresses (a cluster's own registry) unless ``insecure`` says otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx

from daeploy.images import credentials

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(RuntimeError):
    """The registry refused or could not be reached; the message says which and what to do."""


@dataclass(frozen=True)
class Manifest:
    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        import json

        return json.loads(self.data)


def default_insecure(host: str) -> bool:
    """Plain HTTP for a cluster's own registry: loopback or private addresses, ``localhost``."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class Registry:
    def __init__(self, host: str, insecure: bool | None = None, timeout: float = 600) -> None:
        self.host = host
        self.insecure = default_insecure(host) if insecure is None else insecure
        self.base = f"{'http' if self.insecure else 'https'}://{host}"
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- transport and auth -------------------------------------------------------------

    def _authorize(self, challenge: str, scope: str) -> str:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE.findall(params_text))
        found = credentials.lookup(self.host)
        if scheme.lower() == "basic":
            if found is None:
                raise RegistryError(
                    f"registry {self.host} asks for a login: `docker login {self.host}` "
                    "(or podman/buildah login), then deploy again"
                )
            user, password = found
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"registry {self.host} asks for an unknown login: {challenge!r}")
        query = {"service": params.get("service", "")}
        scopes = [s for s in {params.get("scope", ""), scope} if s]
        url = params["realm"] + "?" + urlencode([*query.items(), *(("scope", s) for s in scopes)])
        auth = httpx.BasicAuth(*found) if found else None
        response = self.client.get(url, auth=auth)
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.host} refused a token ({response.status_code}) for {scope}: "
                f"check `docker login {self.host}` and that you may push there"
            )
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.host}'s token server answered no token")
        return f"Bearer {token}"

    def request(
        self,
        method: str,
        url: str,
        scope: str,
        body: Callable[[], bytes | IO[bytes]] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One call, logging in once when the registry asks (the body is made again for it)."""
        full = url if url.startswith("http") else self.base + url
        for attempt in (0, 1):
            sent = dict(headers or {})
            if scope in self._tokens:
                sent["Authorization"] = self._tokens[scope]
            content = body() if body else None
            try:
                request = self.client.build_request(method, full, headers=sent, content=content)
                response = self.client.send(request, stream=stream)
            except httpx.HTTPError as error:
                raise RegistryError(
                    f"cannot reach registry {self.base}: {error}; check the address "
                    "(--registry) and that the registry runs"
                ) from None
            finally:
                if hasattr(content, "close"):
                    content.close()  # an upload's file: sent by now, or failed
            if response.status_code != 401 or attempt:
                return response
            challenge = response.headers.get("www-authenticate", "")
            response.close()
            self._tokens[scope] = self._authorize(challenge, scope)
        raise AssertionError("unreachable")

    @staticmethod
    def _scope(repository: str, push: bool) -> str:
        return f"repository:{repository}:{'pull,push' if push else 'pull'}"

    def _fail(self, response: httpx.Response, what: str) -> RegistryError:
        try:
            errors = response.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            detail = response.text[:200]
        hint = ""
        if response.status_code in (401, 403):
            hint = f"; check `docker login {self.host}` and your rights there"
        return RegistryError(
            f"registry {self.host}: {what} failed ({response.status_code} {detail}){hint}"
        )

    # -- blobs ----------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str, push: bool = False) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", self._scope(repository, push)
        )
        if response.status_code in (200, 307):
            return True
        if response.status_code == 404:
            return False
        raise self._fail(response, f"looking for blob {digest[:19]} in {repository}")

    def _finish_upload(self, location: str, repository: str, digest: str, path: Path) -> None:
        joiner = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            location + joiner + urlencode({"digest": digest}),
            self._scope(repository, True),
            body=lambda: path.open("rb"),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size),
            },
        )
        if response.status_code not in (201, 204):
            raise self._fail(response, f"uploading {digest[:19]} to {repository}")

    def push_blob(
        self,
        repository: str,
        digest: str,
        source: Callable[[], Path],
        mount_from: str | None = None,
    ) -> bool:
        """Make ``digest`` present in ``repository``; True when its bytes had to be sent.

        ``source`` gives the blob's file only when it must be uploaded (a base layer is then
        fetched from where it lives); ``mount_from`` names a repository of this registry that
        has it, which the registry can link without an upload.
        """
        if self.has_blob(repository, digest, push=True):
            return False
        query = {"mount": digest, "from": mount_from} if mount_from else {}
        suffix = "?" + urlencode(query) if query else ""
        scope = self._scope(repository, True)
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/{suffix}", scope)
        if response.status_code == 201:
            return False
        if response.status_code != 202:
            raise self._fail(response, f"starting an upload to {repository}")
        location = response.headers.get("location", "")
        if not location:
            raise RegistryError(f"registry {self.host} started an upload but gave no Location")
        self._finish_upload(location, repository, digest, source())
        return True

    @contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[httpx.Response]:
        response = self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", self._scope(repository, False), stream=True
        )
        try:
            if response.status_code != 200:
                response.read()
                raise self._fail(response, f"reading blob {digest[:19]} of {repository}")
            yield response
        finally:
            response.close()

    def fetch_blob(self, repository: str, digest: str, path: Path) -> Path:
        """Download a blob to ``path``, checking its digest on the way."""
        partial = path.with_suffix(".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        with self.open_blob(repository, digest) as response, partial.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            partial.unlink(missing_ok=True)
            raise RegistryError(f"registry {self.host} sent blob {digest[:19]} with other bytes")
        partial.replace(path)
        return path

    def read_blob(self, repository: str, digest: str) -> bytes:
        with self.open_blob(repository, digest) as response:
            data = response.read()
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RegistryError(f"registry {self.host} sent blob {digest[:19]} with other bytes")
        return data

    # -- manifests ------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            self._scope(repository, False),
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        if response.status_code == 404:
            raise RegistryError(
                f"registry {self.host} has no image {repository}:{reference}"
                if not reference.startswith("sha256:")
                else f"registry {self.host} has no image {repository}@{reference}"
            )
        if response.status_code != 200:
            raise self._fail(response, f"reading {repository}:{reference}")
        data = response.content
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(data, media_type, digest)

    def put_manifest(self, repository: str, tag: str, data: bytes, media_type: str) -> str:
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            self._scope(repository, True),
            body=lambda: data,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise self._fail(response, f"pushing {repository}:{tag}")
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Remove an image by digest; False when it was not there."""
        response = self.request(
            "DELETE", f"/v2/{repository}/manifests/{digest}", self._scope(repository, True)
        )
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202):
            raise self._fail(response, f"deleting {repository}@{digest}")
        return True
