"""A Kubernetes API server on loopback, for contract tests: no cluster can run here.

It implements the subset of apps/v1 and batch/v1 that mlchaos uses, with the behaviour of
the Deployment controller that matters to rollbacks: a changed pod template gets the next
revision, in a new ReplicaSet or, when the template matches an old one (a rollback), in that
ReplicaSet, which is re-annotated with the new revision. Patches follow the three content
types the API server accepts for Deployments (strategic merge, JSON merge, JSON patch).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

REVISION = "deployment.kubernetes.io/revision"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strategic_merge(target: Any, patch: Any) -> Any:
    if isinstance(target, dict) and isinstance(patch, dict):
        out = dict(target)
        for key, value in patch.items():
            out[key] = _strategic_merge(target.get(key), value) if key in target else value
        return out
    if (
        isinstance(target, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in target + patch)
    ):  # containers, env: merged by name
        merged = {i["name"]: i for i in target}
        for item in patch:
            merged[item["name"]] = _strategic_merge(merged.get(item["name"], {}), item)
        return list(merged.values())
    return copy.deepcopy(patch)


def _json_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(target)
    for op in operations:
        if op["op"] not in ("replace", "add"):
            raise ValueError(f"unsupported op {op['op']}")
        *parents, leaf = op["path"].strip("/").split("/")
        node = out
        for part in parents:
            node = node[part]
        node[leaf] = op["value"]
    return out


class FakeKube:
    def __init__(self) -> None:
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.replicasets: dict[tuple[str, str], dict[str, Any]] = {}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()

    def add_deployment(self, namespace: str, name: str, image: str, replicas: int = 2) -> None:
        labels = {"app": name}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "generation": 0,
                "annotations": {},
                "labels": labels,
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "server", "image": image}]},
                },
            },
            "status": {},
        }
        self.deployments[(namespace, name)] = deployment
        self._reconcile(deployment)

    def _reconcile(self, d: dict[str, Any]) -> None:
        """What the Deployment controller does after a template change."""
        template = d["spec"]["template"]
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        namespace, name = d["metadata"]["namespace"], d["metadata"]["name"]
        owned = [
            rs
            for (ns, _), rs in self.replicasets.items()
            if ns == namespace
            and any(o["uid"] == d["metadata"]["uid"] for o in rs["metadata"]["ownerReferences"])
        ]
        revisions = [int(rs["metadata"]["annotations"][REVISION]) for rs in owned]
        current = int(d["metadata"]["annotations"].get(REVISION, "0"))
        match = next(
            (rs for rs in owned if rs["metadata"]["labels"]["pod-template-hash"] == digest), None
        )
        if match is not None and int(match["metadata"]["annotations"][REVISION]) == current:
            return
        revision = max(revisions, default=0) + 1
        if match is None:
            rs_template = copy.deepcopy(template)
            rs_template["metadata"].setdefault("labels", {})["pod-template-hash"] = digest
            match = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{digest}",
                    "namespace": namespace,
                    "labels": {**d["spec"]["selector"]["matchLabels"], "pod-template-hash": digest},
                    "annotations": {},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": d["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": d["spec"]["replicas"],
                    "selector": {"matchLabels": match_labels(d, digest)},
                    "template": rs_template,
                },
            }
            self.replicasets[(namespace, match["metadata"]["name"])] = match
        match["metadata"]["annotations"][REVISION] = str(revision)
        d["metadata"]["annotations"][REVISION] = str(revision)
        d["metadata"]["generation"] += 1
        d["metadata"]["managedFields"] = [
            {"manager": "mlchaos", "operation": "Update", "apiVersion": "apps/v1", "time": _now()}
        ]
        replicas = d["spec"]["replicas"]
        d["status"] = {
            "observedGeneration": d["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        kube = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _missing(self) -> None:
                self._send(
                    404,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "reason": "NotFound",
                        "code": 404,
                        "message": "not found",
                    },
                )

            def _body(self) -> Any:
                return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

            def _route(self) -> tuple[list[str], dict[str, list[str]]]:
                url = urlparse(self.path)
                return url.path.strip("/").split("/"), parse_qs(url.query)

            def do_GET(self) -> None:
                parts, query = self._route()
                with kube.lock:
                    if parts[-2:-1] == ["deployments"]:
                        found = kube.deployments.get((parts[4], parts[-1]))
                        return self._send(200, found) if found else self._missing()
                    if parts[-1] == "replicasets":
                        wanted = dict(
                            kv.split("=")
                            for kv in query.get("labelSelector", [""])[0].split(",")
                            if kv
                        )
                        items = [
                            rs
                            for (ns, _), rs in kube.replicasets.items()
                            if ns == parts[4] and wanted.items() <= rs["metadata"]["labels"].items()
                        ]
                        return self._send(
                            200,
                            {
                                "apiVersion": "apps/v1",
                                "kind": "ReplicaSetList",
                                "metadata": {},
                                "items": items,
                            },
                        )
                    if parts[-2:-1] == ["jobs"]:
                        job = kube.jobs.get((parts[4], parts[-1]))
                        return self._send(200, job) if job else self._missing()
                self._missing()

            def do_PATCH(self) -> None:
                parts, _ = self._route()
                patch, kind = self._body(), self.headers["Content-Type"]
                with kube.lock:
                    d = kube.deployments.get((parts[4], parts[-1]))
                    if d is None:
                        return self._missing()
                    if "json-patch" in kind:
                        patched = _json_patch(d, patch)
                    else:  # strategic and JSON merge agree for what mlchaos sends
                        patched = _strategic_merge(d, patch)
                    d["spec"] = patched["spec"]
                    d["metadata"]["annotations"] = patched["metadata"].get("annotations", {})
                    kube._reconcile(d)
                    return self._send(200, d)

            def do_POST(self) -> None:
                parts, _ = self._route()
                job = self._body()
                with kube.lock:
                    job["metadata"]["uid"] = str(uuid.uuid4())
                    kube.jobs[(parts[4], job["metadata"]["name"])] = job
                self._send(201, job)

            def do_DELETE(self) -> None:
                parts, _ = self._route()
                with kube.lock:
                    job = kube.jobs.pop((parts[4], parts[-1]), None)
                if job is None:
                    return self._missing()
                self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


def match_labels(d: dict[str, Any], digest: str) -> dict[str, str]:
    return {**d["spec"]["selector"]["matchLabels"], "pod-template-hash": digest}
