#!/usr/bin/env bash
# The main job: a real local cluster, the operator installed with helm, die_roller and yatzee
# applied with kubectl, and a game of yatzee played through the ingress. Needs root.
# The cluster stays up afterwards; `make down` removes it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
ns="${DAEPLOY_DEMO_NAMESPACE:-demo}"
step() { printf '\n== %s\n' "$*"; }

step "cluster"
hack/cluster up
eval "$(hack/cluster env)"

step "images (built from their Dockerfiles with buildah, loaded into containerd)"
hack/cluster images

step "operator (helm install)"
helm upgrade --install daeploy-operator charts/daeploy-operator \
  --namespace daeploy-system --create-namespace --wait --timeout 180s
# A reused cluster: run the images just built (same tags).
kubectl -n daeploy-system rollout restart deployment/daeploy-operator deployment/daeploy-gate
kubectl -n daeploy-system rollout status deployment/daeploy-operator --timeout=180s
kubectl -n daeploy-system rollout status deployment/daeploy-gate --timeout=180s

step "services (kubectl apply of the DaeployService manifests)"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$ns" -f services/die_roller/daeployservice.yaml -f services/yatzee/daeployservice.yaml
kubectl wait -n "$ns" --for=condition=Ready dsvc --all --timeout=180s
kubectl get dsvc -n "$ns"

step "play yatzee through the ingress: POST $DAEPLOY_INGRESS_URL/services/yatzee/play"
# Access control is on: a call needs a token of an identity RBAC lets call the service. The
# operator made daeploy-caller in the namespace; `daeploy token -n $ns` asks for the same.
echo "token:  TOKEN=\$(kubectl create token daeploy-caller -n $ns --audience daeploy.io)"
echo "        (or, with the SDK installed: TOKEN=\$(daeploy --namespace $ns token))"
token=$(kubectl create token daeploy-caller -n "$ns" --audience daeploy.io)
url="$DAEPLOY_INGRESS_URL/services/yatzee/play"
# Ready means the routes are in the Ingress; Traefik serves them a moment later. Wait quietly.
for _ in $(seq 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$url" || true)
  [ "$code" = 200 ] && break
  sleep 1
done
echo "without a token: HTTP $(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")"
for _ in 1 2 3; do
  curl -fsS -X POST -H "Authorization: Bearer $token" "$url"
  echo
done
echo
echo "docs: $DAEPLOY_INGRESS_URL/services/yatzee/docs (with the token)   (remove everything with: make down)"
