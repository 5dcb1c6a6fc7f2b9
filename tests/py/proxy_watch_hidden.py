"""List, then watch from the list's resourceVersion (as an informer does),
through kac-proxy with the official `kubernetes` client.

Usage: proxy_watch_hidden.py KUBECONFIG NAMESPACE READY_FILE SECONDS
Creates READY_FILE once the watch is open, watches for SECONDS, then prints
one JSON object: {"listed": [name, ...], "events": [["TYPE", "name"], ...]}.
"""
import json
import sys
import threading

from kubernetes import client, config, watch


def main():
    kubeconfig, namespace, ready_file, seconds = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()
    pods = v1.list_namespaced_pod(namespace)
    listed = sorted(p.metadata.name for p in pods.items)
    events = []
    w = watch.Watch()
    # The ready file is written once the first response bytes can flow:
    # a short delay after opening the stream is enough for the proxy to
    # have the upstream watch open.
    timer = threading.Timer(1.0, lambda: open(ready_file, "w").close())
    timer.start()
    for ev in w.stream(
        v1.list_namespaced_pod,
        namespace,
        resource_version=pods.metadata.resource_version,
        timeout_seconds=int(seconds),
    ):
        events.append([ev["type"], ev["object"].metadata.name])
    timer.cancel()
    print(json.dumps({"listed": listed, "events": events}))


if __name__ == "__main__":
    main()
