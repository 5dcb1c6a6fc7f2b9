"""List and watch pods with the official `kubernetes` Python client.

Usage: sim_list_watch.py KUBECONFIG
Prints one JSON object: {"pods": ["ns/name", ...], "events": [["TYPE", "name"], ...],
"paged": N} so the Rust test can assert on it.
"""
import json
import sys
import threading
import time

from kubernetes import client, config, watch


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    pods = v1.list_pod_for_all_namespaces()
    names = [f"{p.metadata.namespace}/{p.metadata.name}" for p in pods.items]

    # Paged list: follow continue tokens.
    paged, cont = 0, None
    while True:
        page = v1.list_pod_for_all_namespaces(limit=4, _continue=cont)
        paged += len(page.items)
        cont = page.metadata._continue
        if not cont:
            break

    events = []
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
    )

    def mutate():
        time.sleep(1.0)
        v1.create_namespaced_pod("sam", body)
        time.sleep(0.5)
        v1.delete_namespaced_pod("py-pod", "sam")

    t = threading.Thread(target=mutate)
    t.start()
    w = watch.Watch()
    for ev in w.stream(v1.list_namespaced_pod, "sam", timeout_seconds=15):
        events.append([ev["type"], ev["object"].metadata.name])
        if ev["type"] == "DELETED" and ev["object"].metadata.name == "py-pod":
            w.stop()
    t.join()
    print(json.dumps({"pods": names, "events": events, "paged": paged}))


if __name__ == "__main__":
    main()
