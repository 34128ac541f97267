"""The probe's side of Elasticsearch: the elasticsearch-py client, what counts as an
acknowledged or a definitely refused write, the verification read, and each node's view of the
elected master (the component, chaos.components.elasticsearch, explains the probe's design).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..probe import DefiniteFailure

if TYPE_CHECKING:
    from .elasticsearch import Settings

INDEX = "chaos-probe"
# Answers that say the write was refused before any copy was touched.
DEFINITE_TYPES = frozenset({"cluster_block_exception", "unavailable_shards_exception",
                            "master_not_discovered_exception", "es_rejected_execution_exception"})


def parse_master(answer: Any) -> str | None:
    """The elected master's node name, or None when there is none.

    Accepts either `GET _cluster/state/master_node,nodes` (master_node is a node id, null when
    no master is elected; nodes maps ids to {"name": ...}) or `GET _cat/master?format=json`
    ([{"id", "host", "ip", "node"}]).
    """
    if isinstance(answer, list):
        if not answer:
            return None
        name = answer[0].get("node")
        return None if name in (None, "-") else name
    if not isinstance(answer, dict) or "nodes" not in answer:
        raise ValueError(f"not a cluster state with master_node and nodes: {str(answer)[:200]!r}")
    master = answer.get("master_node")
    if not master:
        return None
    node = answer["nodes"].get(master)
    if node is None:
        raise ValueError(f"master {master} is not among the nodes {sorted(answer['nodes'])}")
    return node["name"]


def parse_nodes(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """From a cluster state with `nodes`: {name: {"id", "ip", "roles"}}; ip from the transport
    address (what a pod IP maps to)."""
    out = {}
    for node_id, node in answer.get("nodes", {}).items():
        address = node.get("transport_address", "")
        out[node["name"]] = {"id": node_id, "ip": address.rsplit(":", 1)[0] if address else None,
                             "roles": sorted(node.get("roles", []))}
    return out


class NotAcknowledged(Exception):
    """The write reached a primary but the answer does not acknowledge it: indeterminate."""

    def __init__(self, message: str, answer: dict[str, Any] | None = None):
        super().__init__(message)
        self.answer = answer


def acknowledgement(answer: dict[str, Any]) -> dict[str, Any]:
    """The acknowledgement rule on an index answer: result created or updated and no failed
    shard copy. Returns facts kept on the probe's event (primary term, copies written, and
    replicated = at least one replica had it); raises NotAcknowledged otherwise."""
    result = answer.get("result")
    shards = answer.get("_shards") or {}
    if result not in ("created", "updated"):
        raise NotAcknowledged(f"result {result!r}", answer)
    if "failed" not in shards or shards["failed"] != 0:
        raise NotAcknowledged(f"{shards.get('failed', '?')} of {shards.get('total', '?')} shard copies failed: "
                              f"{str(shards.get('failures', ''))[:160]}", answer)
    successful = int(shards.get("successful", 0))
    return {"primary_term": answer.get("_primary_term"), "seq_no": answer.get("_seq_no"),
            "copies": successful, "replicated": successful >= 2}


_attempts = threading.local()


def _never_sent(exc: BaseException) -> bool:
    """True when a transport error happened before a connection existed (refused, connect
    timeout): that attempt cannot have reached a server."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    never = (NewConnectionError, ConnectTimeoutError)
    return isinstance(exc, never) or isinstance(exc.__cause__, never)


def _recording_node_class():
    """Urllib3HttpNode that remembers, per thread, whether a failed attempt may have reached a
    server: the transport retries on other nodes, and only the last error reaches the caller."""
    from elastic_transport import TransportError, Urllib3HttpNode

    class RecordingNode(Urllib3HttpNode):
        def perform_request(self, *args, **kwargs):
            try:
                return super().perform_request(*args, **kwargs)
            except TransportError as exc:
                if not _never_sent(exc):
                    _attempts.maybe_delivered = True
                raise

    return RecordingNode


def is_definite(exc: BaseException, maybe_delivered: bool = False) -> bool:
    """Whether a failed write certainly did not take effect: no attempt may have reached a server
    (`maybe_delivered` False) and the last answer is a refusal before execution (no master,
    write block, inactive primary, rejected) or no connection could be made at all."""
    from elastic_transport import ConnectionError as TransportConnectionError, ConnectionTimeout
    from elasticsearch import ApiError

    if maybe_delivered:
        return False
    if isinstance(exc, ApiError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        kind = error.get("type") if isinstance(error, dict) else None
        return exc.meta.status == 429 or kind in DEFINITE_TYPES
    if isinstance(exc, (TransportConnectionError, ConnectionTimeout)):
        return all(_never_sent(e) for e in (*getattr(exc, "errors", ()), exc))
    return False


# --- client side -----------------------------------------------------------------------------

def make_client(urls: Sequence[str], settings: Settings, **kwargs: Any):
    """An elasticsearch-py client over every node, retrying timeouts on the other nodes."""
    from elasticsearch import Elasticsearch

    return Elasticsearch(list(urls), retry_on_timeout=True, max_retries=settings.max_retries,
                         request_timeout=settings.request_timeout_s, node_class=_recording_node_class(),
                         **kwargs)


def ensure_index(es, settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the probe's index (idempotent) and wait until every copy is allocated."""
    from elasticsearch import BadRequestError

    body = {"settings": {"index": {"number_of_shards": settings.shards, "number_of_replicas": settings.replicas,
                                   "refresh_interval": settings.refresh_interval}},
            "mappings": {"dynamic": "strict", "properties": {
                "id": {"type": "long"}, "worker": {"type": "keyword"}, "experiment": {"type": "keyword"}}}}
    try:
        es.options(request_timeout=timeout_s).indices.create(index=INDEX, **body)
    except BadRequestError as exc:
        if "resource_already_exists_exception" not in str(exc):
            raise
    es.options(request_timeout=timeout_s + 5).cluster.health(index=INDEX, wait_for_status="green",
                                                             timeout=f"{int(timeout_s)}s")


def read_values(es, experiment: str, page: int = 5000, max_pages: int = 10_000) -> list[int]:
    """Every id the experiment's documents hold (a refresh first, then search_after by id)."""
    es.indices.refresh(index=INDEX)
    out: list[int] = []
    after = None
    for _ in range(max_pages):
        kw = {"search_after": after} if after is not None else {}
        answer = es.search(index=INDEX, query={"term": {"experiment": experiment}}, sort=[{"id": "asc"}],
                           size=page, source=["id"], track_total_hits=False, **kw)
        hits = answer["hits"]["hits"]
        out += [h["_source"]["id"] for h in hits]
        if len(hits) < page:
            return out
        after = hits[-1]["sort"]
    raise RuntimeError(f"more than {page * max_pages} documents for {experiment}")


def cluster_view(urls: Iterable[tuple[str, str]], timeout_s: float = 1.0) -> dict[str, dict[str, Any]]:
    """Each node's own view (local=true: no master needed to answer), by pod: {"master": name
    or None, "nodes": {name: ...}} or {"error": ...} when the node does not answer."""
    from elasticsearch import Elasticsearch

    views = {}
    for pod, url in urls:
        es = Elasticsearch(url, request_timeout=timeout_s, max_retries=0)
        try:
            state = es.cluster.state(metric=["master_node", "nodes"], local=True).body
            views[pod] = {"master": parse_master(state), "nodes": parse_nodes(state)}
        except Exception as exc:
            views[pod] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
        finally:
            es.close()
    return views


def elected_master(views: dict[str, dict[str, Any]]) -> str | None:
    """The master most answering nodes name (more than half of those that answer), else None."""
    named = [v.get("master") for v in views.values() if "error" not in v]
    if not named:
        return None
    name, count = Counter(named).most_common(1)[0]
    return name if name is not None and count * 2 > len(named) else None


class EsClient:
    """One probe worker: indexes {id, worker, experiment} with refresh=wait_for."""

    def __init__(self, urls: Sequence[str], experiment: str, worker: str, settings: Settings):
        self.experiment = experiment
        self.worker = worker
        self.settings = settings
        self.es = make_client(urls, settings)
        self._primary: tuple[int, str] | None = None  # (primary term, node name holding the primary)

    def write(self, value: int) -> tuple[str | None, dict[str, Any]]:
        _attempts.maybe_delivered = False
        try:
            answer = self.es.index(index=INDEX, id=f"{self.experiment}:{value}", refresh="wait_for",
                                   timeout=f"{int(self.settings.server_timeout_s * 1000)}ms",
                                   document={"id": value, "worker": self.worker, "experiment": self.experiment})
        except Exception as exc:
            if is_definite(exc, getattr(_attempts, "maybe_delivered", False)):
                raise DefiniteFailure(str(exc)) from exc
            raise
        facts = acknowledgement(answer.body)
        return self._primary_node(facts.get("primary_term")), facts

    def _primary_node(self, term: int | None) -> str | None:
        """The node that holds the primary in this primary term. A term names one primary
        allocation, so one lookup per new term (the first write after a failover) suffices."""
        if term is None:
            return None
        if self._primary is not None and self._primary[0] == term:
            return self._primary[1]
        try:
            state = self.es.options(request_timeout=0.5, max_retries=0).cluster.state(
                metric=["metadata", "routing_table", "nodes"], index=INDEX, master_timeout="500ms",
                filter_path=[f"metadata.indices.{INDEX}.primary_terms", f"routing_table.indices.{INDEX}.shards.0",
                             "nodes.*.name"]).body
            node = primary_of(state, term)
        except Exception:
            return None
        if node is not None:
            self._primary = (term, node)
        return node

    def abort(self) -> None:
        """Nothing to cut: every attempt is bounded by request_timeout_s."""

    def close(self) -> None:
        try:
            self.es.close()
        except Exception:
            pass


def primary_of(state: dict[str, Any], term: int) -> str | None:
    """The name of the node holding shard 0's primary of the probe's index, when the cluster
    state is in `term` (an older or newer state says nothing about this term)."""
    terms = state["metadata"]["indices"][INDEX]["primary_terms"]
    if int(terms.get("0", -1)) != term:
        return None
    for copy in state["routing_table"]["indices"][INDEX]["shards"]["0"]:
        if copy.get("primary") and copy.get("state") == "STARTED" and copy.get("node"):
            return state["nodes"][copy["node"]]["name"]
    return None


# --- the component ---------------------------------------------------------------------------
