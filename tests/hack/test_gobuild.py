"""The wrapper go.mod that lets upstream modules with replace directives build."""

from localcluster.gobuild import GoComponent, parse_directives, tools_go, wrapper_gomod

K8S_LIKE = """module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
\tk8s.io/api v0.0.0
\tgithub.com/x/y v1.2.3 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tgithub.com/a/b => github.com/c/b v0.1.0
)

exclude github.com/bad/mod v3.0.83+incompatible
replace go.etcd.io/etcd/api/v3 => ../api
"""


def test_parse_flattens_blocks_and_drops_comments():
    pairs = parse_directives(K8S_LIKE)
    assert ("require", "github.com/x/y v1.2.3") in pairs
    assert ("replace", "k8s.io/api => ./staging/src/k8s.io/api") in pairs
    assert ("exclude", "github.com/bad/mod v3.0.83+incompatible") in pairs


def test_wrapper_pins_staging_modules_and_keeps_versioned_replaces():
    gomod = wrapper_gomod(K8S_LIKE, "k8s.io/kubernetes", "v1.34.4", "v0.34.4")
    assert "require k8s.io/kubernetes v1.34.4" in gomod
    assert "replace k8s.io/api => k8s.io/api v0.34.4" in gomod
    assert "replace github.com/a/b => github.com/c/b v0.1.0" in gomod
    assert "exclude github.com/bad/mod v3.0.83+incompatible" in gomod
    assert "go 1.24.0" in gomod and "godebug default=go1.24" in gomod
    # A path replace outside staging points into the upstream checkout: dropped.
    assert "../api" not in gomod
    assert "./staging" not in gomod


def test_wrapper_without_staging_drops_all_path_replaces():
    gomod = wrapper_gomod(K8S_LIKE, "x/y", "v1.0.0")
    assert "k8s.io/api =>" not in gomod


def test_binary_names():
    multi = GoComponent("k", "k8s.io/kubernetes", "v1", ("k8s.io/kubernetes/cmd/kubelet",))
    assert multi.binaries == ("kubelet",)
    etcd = GoComponent("etcd", "go.etcd.io/etcd/server/v3", "v3", ("go.etcd.io/etcd/server/v3",),
                       output="etcd")  # fmt: skip
    assert etcd.binaries == ("etcd",)


def test_tools_go_is_excluded_from_builds():
    text = tools_go(("a/b", "c/d"))
    assert text.startswith("//go:build tools")
    assert '_ "a/b"' in text and '_ "c/d"' in text
