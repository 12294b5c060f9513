"""Component images are written without Docker, and the same inputs give the same bytes."""

import hashlib
import json
import tarfile

from localcluster import oci


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_archive_is_reproducible_and_named_for_containerd(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello").write_text("hi\n")
    cfg = oci.ImageConfig(entrypoint=("/hello",), user="65535:65535")
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    oci.write_archive(a, "localhost/x:1", [root], cfg)
    (root / "hello").touch()  # a new mtime must not change the image
    oci.write_archive(b, "localhost/x:1", [root], cfg)
    assert _digest(a) == _digest(b)
    with tarfile.open(a) as tar:
        index = json.load(tar.extractfile("index.json"))
    annotations = index["manifests"][0]["annotations"]
    assert annotations["io.containerd.image.name"] == "localhost/x:1"
    assert annotations["org.opencontainers.image.ref.name"] == "1"
