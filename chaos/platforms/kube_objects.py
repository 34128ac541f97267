"""Objects of any kind in one namespace, as API JSON (dicts), through the official client's
DynamicClient: get, list, server-side apply, delete; and a container's last log lines."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from typing import Any, Mapping

from ..errors import InvalidConfig

__all__ = ["KubeObjects", "api_message", "REQUEST_TIMEOUT_S"]

REQUEST_TIMEOUT_S = 20


def _as_json(_client: Any, doc: Any) -> Any:
    """The dynamic client's `serializer` hook: the API's JSON as it came, not a ResourceInstance."""
    return doc


def api_message(exc: Exception) -> str:
    """The API server's own words for a refused request (its Status message), else the exception."""
    body = getattr(exc, "body", None)
    if body:
        try:
            return json.loads(body).get("message", str(body))
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(exc)


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "status", None) == 404


def _memory_discoverer() -> type:
    from kubernetes.dynamic.discovery import LazyDiscoverer

    class MemoryDiscoverer(LazyDiscoverer):
        """Discovery kept in memory: the library's default cache file is keyed by the server's
        address alone, so it would outlive a cluster recreated at the same address."""

        def __init__(self, client: Any, cache_file: str | None):
            # A file name nobody writes (_write_cache writes nothing): discovery starts empty.
            unused = os.path.join(tempfile.gettempdir(), f"chaos-discovery-{uuid.uuid4().hex}.json")
            super().__init__(client, cache_file or unused)

        def _write_cache(self) -> None:
            pass

    return MemoryDiscoverer


def _search(api_version: str) -> dict[str, str]:
    """Discovery search terms of an apiVersion: core (v1) is under /api, groups under /apis."""
    return {"prefix": "apis" if "/" in api_version else "api", "api_version": api_version}


class KubeObjects:
    """The namespace's objects through a DynamicClient made on first use (it discovers the API
    when made). Objects are API JSON with apiVersion, kind and metadata.name; every kind must be
    namespaced, a cluster-scoped one is an InvalidConfig."""

    def __init__(self, api: Any, namespace: str):
        self.api, self.namespace = api, namespace
        self._dyn: Any = None
        self._resources: dict[tuple[str, str], Any] = {}

    @property
    def dyn(self) -> Any:
        if self._dyn is None:
            from kubernetes.dynamic import DynamicClient

            self._dyn = DynamicClient(self.api, discoverer=_memory_discoverer())
        return self._dyn

    def resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's Resource of a kind; InvalidConfig when the cluster does not serve it."""
        key = (api_version, kind)
        if key not in self._resources:
            from kubernetes.dynamic.exceptions import ResourceNotFoundError

            try:
                self._resources[key] = self.dyn.resources.get(kind=kind, **_search(api_version))
            except ResourceNotFoundError as exc:
                if not self.dyn.resources.search(**_search(api_version)):
                    raise InvalidConfig(f"the cluster serves no API {api_version}",
                                        field=f"{kind} apiVersion") from exc
                raise InvalidConfig(f"the cluster serves no kind {kind} in {api_version}", field="kind") from exc
        return self._resources[key]

    def namespaced(self, obj: Mapping[str, Any]) -> Any:
        """The Resource of an object that may be in the stack: its kind served and namespaced."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        if not res.namespaced:
            raise InvalidConfig(f"{obj['kind']}/{obj['metadata']['name']} is cluster-scoped; the stack may only "
                                f"hold objects of its namespace", field="manifests")
        return res

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """The object as the server has it, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self.namespaced(obj).get(name=obj["metadata"]["name"], namespace=self.namespace,
                                            serializer=_as_json, _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as exc:
            if _not_found(exc):
                return None
            raise

    def list(self, api_version: str, kind: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """The namespace's objects of a kind (matching label_selector when given)."""
        doc = self.resource(api_version, kind).get(namespace=self.namespace, label_selector=label_selector,
                                                   serializer=_as_json, _request_timeout=REQUEST_TIMEOUT_S)
        return doc.get("items") or []

    def apply(self, obj: Mapping[str, Any], field_manager: str) -> dict[str, Any]:
        """Server-side apply (PATCH, application/apply-patch+yaml), conflicts forced; the object
        as the server has it afterwards."""
        return self.namespaced(obj).server_side_apply(
            body=dict(obj), name=obj["metadata"]["name"], namespace=self.namespace, field_manager=field_manager,
            force_conflicts=True, serializer=_as_json, _request_timeout=REQUEST_TIMEOUT_S)

    def delete(self, obj: Mapping[str, Any], propagation_policy: str | None = None) -> bool:
        """Delete the object; False when it was not there."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.namespaced(obj).delete(name=obj["metadata"]["name"], namespace=self.namespace,
                                        propagation_policy=propagation_policy, serializer=_as_json,
                                        _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as exc:
            if _not_found(exc):
                return False
            raise
        return True

    def own_namespace(self) -> dict[str, Any] | None:
        """This namespace's Namespace object, or None when it does not exist."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self.resource("v1", "Namespace").get(name=self.namespace, serializer=_as_json,
                                                        _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as exc:
            if _not_found(exc):
                return None
            raise

    def create_namespace(self, body: Mapping[str, Any]) -> None:
        self.resource("v1", "Namespace").create(body=dict(body), serializer=_as_json,
                                                _request_timeout=REQUEST_TIMEOUT_S)

    def logs(self, pod: str, container: str, tail_lines: int, previous: bool) -> list[str]:
        """The last tail_lines log lines of a container (of the one that ended before, if previous)."""
        from kubernetes import client

        # Raw bytes (_preload_content=False): a log is not always valid UTF-8.
        resp = client.CoreV1Api(self.api).read_namespaced_pod_log(
            pod, self.namespace, container=container, tail_lines=tail_lines, previous=previous,
            _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S)
        return (resp.data or b"").decode(errors="replace").splitlines()[-tail_lines:]
