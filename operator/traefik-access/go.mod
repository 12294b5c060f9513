module github.com/daeploy/traefik-access

go 1.22
