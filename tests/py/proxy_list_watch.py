"""List and watch pods through kac-proxy with the official `kubernetes` client.

Usage: proxy_list_watch.py KUBECONFIG NAMESPACE
Lists pods in all namespaces (what the user may see), then watches NAMESPACE
while creating and deleting a pod there. Prints one JSON object:
{"pods": ["ns/name", ...], "events": [["TYPE", "name"], ...]}.
"""
import json
import sys
import threading
import time

from kubernetes import client, config, watch


def main():
    kubeconfig, namespace = sys.argv[1], sys.argv[2]
    config.load_kube_config(config_file=kubeconfig)
    v1 = client.CoreV1Api()
    pods = v1.list_pod_for_all_namespaces()
    names = sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in pods.items)

    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-proxy-pod"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
    )

    def mutate():
        time.sleep(1.0)
        v1.create_namespaced_pod(namespace, body)
        time.sleep(0.5)
        v1.delete_namespaced_pod("py-proxy-pod", namespace)

    t = threading.Thread(target=mutate)
    t.start()
    events = []
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, namespace, timeout_seconds=15):
        events.append([ev["type"], ev["object"].metadata.name])
        if ev["type"] == "DELETED" and ev["object"].metadata.name == "py-proxy-pod":
            w.stop()
    t.join()
    print(json.dumps({"pods": names, "events": events}))


if __name__ == "__main__":
    main()
