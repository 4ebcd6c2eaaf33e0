#!/usr/bin/env bash
# End to end on kind: build the image, install the Helm chart, apply examples/minimal.yaml, wait for
# Ready, and open a WebSocket through node t1's Service. Needs docker, kind, kubectl, helm and `npm ci`.
# Not part of `npm test` (no Docker engine there). KEEP=1 keeps the cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLUSTER=${CLUSTER:-xwg-e2e}
IMAGE=${IMAGE:-xmpp-web-gateway:e2e}
SYSTEM_NS=xmpp-web-gateway-system
NS=xwg-e2e
PORT=${PORT:-18443}
export PATH="$PWD/node_modules/.bin:$PATH"
WORK=$(mktemp -d)
PF_PID=

cleanup() {
  [ -n "$PF_PID" ] && kill "$PF_PID" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

docker build -t "$IMAGE" .
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER"
kind load docker-image "$IMAGE" --name "$CLUSTER"

# The operator runs the gateway nodes from its own image, so both come from the loaded one.
helm upgrade --install xwg charts/xmpp-web-gateway --namespace "$SYSTEM_NS" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --wait --timeout 3m

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f examples/minimal.yaml
if ! kubectl -n "$NS" wait xmppwebgateway/chat --for=condition=Ready --timeout=5m; then
  kubectl -n "$NS" get xmppwebgateway/chat -o yaml
  kubectl -n "$SYSTEM_NS" logs deployment/xwg-xmpp-web-gateway --tail=100
  exit 1
fi
kubectl -n "$NS" get xmppwebgateway/chat -o wide

# The node's certificate is signed by the gateway's own CA (selfManaged); its Secret carries ca.crt.
kubectl -n "$NS" get secret chat-t1-tls -o jsonpath='{.data.ca\.crt}' | base64 -d > "$WORK/ca.crt"
kubectl -n "$NS" port-forward service/chat-t1 "$PORT:443" >"$WORK/port-forward.log" 2>&1 &
PF_PID=$!
for _ in $(seq 1 50); do
  grep -q "Forwarding from" "$WORK/port-forward.log" && break
  sleep 0.2
done
node test/e2e/websocket-check.ts "wss://127.0.0.1:$PORT/xmpp-websocket" t1.example.com "$WORK/ca.crt" example.com
echo "e2e: ok"
