"""Reads that return many objects: lists with selectors and paging, watches, and kubectl tables."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from k8s.sim import errors
from k8s.sim.resources import ResourceType
from k8s.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from k8s.sim.store import ClusterStore, Event, meta

if TYPE_CHECKING:
    from k8s.sim.world import SimCluster

Obj = dict[str, Any]


def _selectors(query: dict[str, str]) -> tuple[LabelSelector, FieldSelector]:
    try:
        return (
            parse_label_selector(query.get("labelSelector", "")),
            parse_field_selector(query.get("fieldSelector", "")),
        )
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e


def _matches(obj: Obj, labels: LabelSelector, fields: FieldSelector) -> bool:
    return labels.matches(meta(obj).get("labels") or {}) and fields.matches(obj)


def list_objects(
    store: ClusterStore, rt: ResourceType, namespace: str | None, query: dict[str, str]
) -> Obj:
    labels, fields = _selectors(query)
    try:
        limit = int(query.get("limit") or 0)
    except ValueError as e:
        raise errors.bad_request(f"invalid limit: {query.get('limit')}") from e
    start: tuple[str, str] | None = None
    if query.get("continue"):
        try:
            token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
            start = (str(token["ns"]), str(token["name"]))
        except (ValueError, KeyError, TypeError) as e:
            raise errors.bad_request("continue key is not valid: illegal base64 data") from e
    items: list[Obj] = []
    more = 0
    last: tuple[str, str] | None = None
    for obj in store.iter(rt, namespace):
        key = (meta(obj).get("namespace", ""), meta(obj)["name"])
        if start is not None and key <= start:
            continue
        if not _matches(obj, labels, fields):
            continue
        if limit and len(items) >= limit:
            more += 1
            continue
        items.append(obj)
        last = key
    list_meta: dict[str, Any] = {"resourceVersion": str(store.rv)}
    if more and last is not None:
        token = json.dumps({"ns": last[0], "name": last[1], "rv": store.rv}).encode()
        list_meta["continue"] = base64.urlsafe_b64encode(token).decode()
        list_meta["remainingItemCount"] = more
    return {
        "kind": f"{rt.kind}List",
        "apiVersion": rt.api_version,
        "metadata": list_meta,
        "items": items,
    }


def watch_events(
    cluster: SimCluster,
    rt: ResourceType,
    namespace: str | None,
    query: dict[str, str],
    deadline: float,
) -> Iterator[Obj]:
    """Yield watch events as the real server streams them, until the deadline or cluster down."""
    store = cluster.store
    labels, fields = _selectors(query)
    rv_param = query.get("resourceVersion", "")
    with cluster.world.lock:
        if rv_param in ("", "0"):
            initial = [o for o in store.iter(rt, namespace) if _matches(o, labels, fields)]
            since = store.rv
        else:
            initial = []
            try:
                since = int(rv_param)
            except ValueError as e:
                raise errors.bad_request(f"invalid resource version: {rv_param}") from e
            if since < store.compacted_rv:
                yield {
                    "type": "ERROR",
                    "object": errors.gone(
                        f"too old resource version: {since} ({store.compacted_rv + 1})"
                    ).status(),
                }
                return
    for obj in initial:
        yield {"type": "ADDED", "object": obj}
    while time.monotonic() < deadline and cluster.is_up:
        batch: list[Event] = []
        with cluster.world.lock:
            if store.rv <= since:
                store.cond.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
            if store.rv > since:
                for recent in reversed(store.history):
                    if recent.rv <= since:
                        break
                    if recent.rkey == rt.key:
                        batch.append(recent)
                batch.reverse()
                since = store.rv
        for ev in batch:
            if namespace is not None and ev.namespace != namespace:
                continue
            now = _matches(ev.obj, labels, fields)
            before = ev.old is not None and _matches(ev.old, labels, fields)
            if ev.type == "ADDED" and now:
                yield {"type": "ADDED", "object": ev.obj}
            elif ev.type == "DELETED" and (now or before):
                yield {"type": "DELETED", "object": ev.obj}
            elif ev.type == "MODIFIED":
                if now and before:
                    yield {"type": "MODIFIED", "object": ev.obj}
                elif now:
                    yield {"type": "ADDED", "object": ev.obj}
                elif before:
                    yield {"type": "DELETED", "object": ev.obj}


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = int((datetime.now(UTC) - then).total_seconds())
    if secs < 120:
        return f"{max(secs, 0)}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _cell(obj: Obj, path: str) -> str:
    if path == "ready":
        conds = obj.get("status", {}).get("conditions") or []
        return next((str(c.get("status")) for c in conds if c.get("type") == "Ready"), "")
    if path == "federated":
        conds = obj.get("status", {}).get("conditions") or []
        return next((str(c.get("status")) for c in conds if c.get("type") == "Federated"), "")
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def table_for(rt: ResourceType, payload: Obj) -> Obj:
    """kubectl's server-side printing: a meta.k8s.io/v1 Table for a list or one object."""
    items = payload["items"] if payload.get("kind", "").endswith("List") else [payload]
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name"}]
    columns += [
        {"name": h, "type": "string", "format": "", "description": h} for h, _ in rt.printer_columns
    ]
    columns.append({"name": "Age", "type": "string", "format": "", "description": "Age"})
    rows = []
    for obj in items:
        md = meta(obj)
        cells = [md.get("name", "")]
        cells += [_cell(obj, p) for _, p in rt.printer_columns]
        cells.append(_age(md.get("creationTimestamp")))
        rows.append(
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": md,
                },
            }
        )
    table_meta = {k: v for k, v in payload.get("metadata", {}).items() if k != "name"}
    if not payload.get("kind", "").endswith("List"):
        table_meta = {"resourceVersion": meta(payload).get("resourceVersion", "")}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_meta,
        "columnDefinitions": columns,
        "rows": rows,
    }
