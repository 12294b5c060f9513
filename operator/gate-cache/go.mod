module github.com/daeploy/daeploy-k8s/gate

go 1.22
