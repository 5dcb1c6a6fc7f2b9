"""Watch edge cases with the `kubernetes` Python client.

Usage: sim_watch_edges.py KUBECONFIG
Prints {"expired": CODE_OR_NULL, "bookmarks": N, "table_rows": N}.
"""
import json
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()

    # The sim runs with --watch-history 2: three changes push rv0 out of the window.
    rv0 = v1.list_namespaced_config_map("sam").metadata.resource_version
    for i in range(3):
        v1.create_namespaced_config_map("sam", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}")))
    expired = None
    try:
        for _ in watch.Watch().stream(v1.list_namespaced_config_map, "sam", resource_version=rv0, timeout_seconds=5):
            pass
    except ApiException as e:
        expired = e.status

    rv = v1.list_namespaced_pod("sam").metadata.resource_version
    bookmarks = 0
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, "sam", resource_version=rv,
                       allow_watch_bookmarks=True, timeout_seconds=7):
        if ev["type"] == "BOOKMARK":
            bookmarks += 1
            w.stop()

    # Server-side Table for a list, as kubectl asks for it.
    api = v1.api_client
    cfg = api.configuration
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    auth = cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix("BearerToken")
    if auth:
        headers["Authorization"] = auth if auth.lower().startswith("bearer ") else "Bearer " + auth
    r = api.rest_client.request("GET", cfg.host + "/api/v1/namespaces/david/pods", headers=headers)
    body = r.data if getattr(r, "data", None) is not None else r.read()
    resp = json.loads(body)
    if "rows" not in resp:
        sys.exit(f"not a Table: {resp}")
    print(json.dumps({"expired": expired, "bookmarks": bookmarks,
                      "table_rows": len(resp["rows"]),
                      "columns": [c["name"] for c in resp["columnDefinitions"]]}))


if __name__ == "__main__":
    main()
