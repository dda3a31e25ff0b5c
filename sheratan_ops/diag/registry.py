"""The registry collector: a node snapshot from ``hub.db``, capped to what a bundle can hold.

Two caps keep it small and fast whatever the hub stored. A node's ``meta`` larger than
:data:`META_MAX_BYTES` as stored (the hub's JSON) is replaced by ``null`` with a
``meta_cut`` note giving its size, and is not even fetched from the db; and nodes stop being
listed once the member, serialized, would pass :data:`REGISTRY_MAX_BYTES`, the member saying
how many were listed of how many. Before the
caps, 40 nodes of 900 KB meta each took minutes and hundreds of MB to redact.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from watcher import NotRegularFile

from .config import DiagConfig, iso_utc
from .hubdb import NodeRow, query_nodes, read_db
from .output import ABSENT, CUT, REFUSED, Output

MEMBER = "registry.json"
META_MAX_BYTES = 64 * 1024
REGISTRY_MAX_BYTES = 8 * 1024 * 1024
#: A node's lines sit two levels deep in the member (the document, then ``nodes``).
_NESTED_INDENT = 4


def collect_registry(config: DiagConfig) -> Output:
    """A node snapshot from ``hub.db`` (read-only): allow-listed columns, status as of the
    run's timestamp. ``meta`` is redacted by the later layers, e-mail addresses included."""
    query = partial(query_nodes, meta_max_bytes=META_MAX_BYTES,
                    budget_bytes=REGISTRY_MAX_BYTES)
    try:
        read = read_db(config.paths.db, query, timeout_s=config.timeout_s)
    except FileNotFoundError as exc:
        return Output({MEMBER: {"nodes": [], "error": str(exc)}}, ABSENT, str(exc))
    except NotRegularFile as exc:
        return Output({MEMBER: {"nodes": [], "error": str(exc)}}, REFUSED, str(exc))
    nodes: list[dict[str, Any]] = []
    used = 0
    for row in read.value.rows:
        node = _node(row, config)
        size = _serialized_size(node)
        if used + size > REGISTRY_MAX_BYTES:
            break
        nodes.append(node)
        used += size
    meta_cut = sum("meta_cut" in node for node in nodes)
    total = read.value.total
    doc: dict[str, Any] = {"as_of": iso_utc(config.epoch_s), "db_open": read.open_mode,
                           "total": total, "listed": len(nodes), "nodes": nodes}
    note = _cut_note(total, len(nodes), meta_cut)
    if note is None:
        return Output({MEMBER: doc}, detail={"nodes": total})
    doc["cut"] = {"note": note, "nodes_not_listed": total - len(nodes),
                  "meta_cut": meta_cut, "meta_max_bytes": META_MAX_BYTES,
                  "registry_max_bytes": REGISTRY_MAX_BYTES}
    return Output({MEMBER: doc}, CUT, detail={"nodes": total, "listed": len(nodes),
                                             "meta_cut": meta_cut}, note=note)


def _node(row: NodeRow, config: DiagConfig) -> dict[str, Any]:
    node: dict[str, Any] = {
        "node_id": row.node_id, "name": row.name, "status": config.node_status(row.last_seen),
        "last_seen": iso_utc(row.last_seen), "registered_at": iso_utc(row.registered_at),
        "meta": row.meta,
    }
    if row.meta_cut:
        node["meta"] = None
        node["meta_cut"] = {"meta_bytes": row.meta_bytes, "limit_bytes": META_MAX_BYTES}
    return node


def _serialized_size(node: dict[str, Any]) -> int:
    """About what ``node`` takes in the member: canonical JSON, each line indented two
    levels deeper (inside ``nodes``), plus the separator. A non-finite number, which the
    bundle writes as a string, counts as its bare name."""
    text = json.dumps(node, sort_keys=True, indent=2, ensure_ascii=False, default=str)
    lines = text.count("\n") + 1
    return len(text.encode("utf-8", "surrogatepass")) + _NESTED_INDENT * lines + 2


def _cut_note(total: int, listed: int, meta_cut: int) -> str | None:
    parts = []
    if listed < total:
        parts.append(f"{listed} of {total} nodes listed (the registry member is capped at "
                     f"{REGISTRY_MAX_BYTES // (1024 * 1024)} MiB)")
    if meta_cut:
        parts.append(f"meta of {meta_cut} node(s) left out, each larger than "
                     f"{META_MAX_BYTES // 1024} KiB (meta_cut gives the size)")
    return "; ".join(parts) if parts else None
