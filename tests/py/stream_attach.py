#!/usr/bin/env python3
"""Attach through the official Python client against kac-sim.

Usage: stream_attach.py KUBECONFIG NAMESPACE POD CONTAINER

kac-sim's pod main process is a shell reading attach stdin: a command
written to stdin must show its output on stdout; the pod heartbeat shows
up too.
"""
import sys
import time

from kubernetes import client, config
from kubernetes.stream import stream


def main():
    kubeconfig, ns, pod, container = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    resp = stream(core.connect_get_namespaced_pod_attach, pod, ns, container=container,
                  stdin=True, stdout=True, stderr=True, tty=False,
                  _preload_content=False)
    resp.write_stdin("echo py-attach-$((5+5))\n")
    out = ""
    deadline = time.time() + 15
    while resp.is_open() and time.time() < deadline and not (
            "py-attach-10\n" in out and "heartbeat" in out):
        resp.update(timeout=1)
        out += resp.read_stdout(timeout=0) or ""
    resp.close()
    if "py-attach-10\n" not in out or "heartbeat" not in out:
        sys.exit(f"attach: expected py-attach-10 and a heartbeat in {out!r}")
    print("attach ok")


if __name__ == "__main__":
    main()
