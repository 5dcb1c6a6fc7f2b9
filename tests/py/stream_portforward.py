#!/usr/bin/env python3
"""Port-forward through the official Python client (the pure WebSocket
form: `?ports=P`, `v4.channel.k8s.io`, two channels per port).

Usage: stream_portforward.py KUBECONFIG NAMESPACE POD PORT [PORT...]

kac-sim echoes every port: for each port, send a payload on the forwarded
socket and expect the same bytes back.
"""
import sys

from kubernetes import client, config
from kubernetes.stream import portforward


def main():
    kubeconfig, ns, pod = sys.argv[1:4]
    ports = [int(p) for p in sys.argv[4:]] or [80]
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns,
                     ports=",".join(str(p) for p in ports))
    for port in ports:
        sock = pf.socket(port)
        sock.setblocking(True)
        payload = (f"echo-{port}-" + "z" * 5000).encode()
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        if got != payload:
            sys.exit(f"port {port}: sent {len(payload)} bytes, got {len(got)}: {got[:40]!r}")
        err = pf.error(port)
        if err:
            sys.exit(f"port {port}: error channel says {err!r}")
        sock.close()
        print(f"port {port} echo ok ({len(got)} bytes)")


if __name__ == "__main__":
    main()
