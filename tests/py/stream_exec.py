#!/usr/bin/env python3
"""Exec through the official Python client against kac-sim (or any cluster).

Usage: stream_exec.py KUBECONFIG NAMESPACE POD CONTAINER

Checks, failing with a non-zero exit and a message on the first mismatch:
1. non-interactive exec returns the command's output;
2. _preload_content=False streaming: stdin written as text reaches `cat`,
   stdout/stderr are separated, and the exit code comes from the Status;
3. a failing command reports its exit code (causes[0] of the Status).
"""
import sys
import time

from kubernetes import client, config
from kubernetes.stream import stream


def main():
    kubeconfig, ns, pod, container = sys.argv[1:5]
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()

    out = stream(core.connect_get_namespaced_pod_exec, pod, ns, container=container,
                 command=["sh", "-c", "echo py-$((6*7)); echo to-stderr >&2"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    if "py-42" not in out:
        sys.exit(f"non-interactive exec: expected py-42 in {out!r}")
    print("non-interactive ok:", out.strip().replace("\n", " | "))

    resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, container=container,
                  command=["sh", "-c", "cat; echo done-err >&2; exit 4"],
                  stderr=True, stdin=True, stdout=True, tty=False,
                  _preload_content=False)
    resp.write_stdin("line-one\n")
    resp.write_stdin("line-two\n")
    got_out = ""
    deadline = time.time() + 10
    while resp.is_open() and "line-two" not in got_out and time.time() < deadline:
        resp.update(timeout=1)
        got_out += resp.read_stdout(timeout=0) or ""
    if got_out != "line-one\nline-two\n":
        sys.exit(f"streaming exec: stdout {got_out!r}")
    proto = getattr(resp, "subprotocol", None)
    if proto == "v5.channel.k8s.io":
        # v5: half-close stdin, cat ends, the shell exits 4.
        resp.close_channel(0)
        resp.run_forever(timeout=10)
        err, code = resp.read_stderr(), resp.returncode
        if (err, code) != ("done-err\n", 4):
            sys.exit(f"streaming exec after stdin close: stderr={err!r} code={code!r}")
    else:
        resp.close()
    print("streaming stdin ok:", proto, got_out.strip().replace("\n", " | "))

    resp = stream(core.connect_get_namespaced_pod_exec, pod, ns, container=container,
                  command=["sh", "-c", "echo bye; echo oops >&2; exit 4"],
                  stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=10)
    out, err = resp.read_stdout(), resp.read_stderr()
    code = resp.returncode
    if (out, err, code) != ("bye\n", "oops\n", 4):
        sys.exit(f"exit code: got stdout={out!r} stderr={err!r} code={code!r}")
    print("exit code ok:", code)


if __name__ == "__main__":
    main()
