"""A task's whole workflow (chain, group, chord, subtasks) as a graph, from the task history.

Links come from what the recorder keeps: ``parent_id`` (the task that sent it), ``root_id`` (the
first task of the workflow), the children of each task (`app.store.history`; members of a
group sent from outside any task are the group id's children), the group id (a chord's callback
carries its header's group id and is sent by the header task that finished last) and, when Celery
puts it in the message, a chord header's callback id (``chord_id``). The walk goes breadth-first from the root, one pipelined round trip per
level, and stops at `max_nodes`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from app.store import history

NODE_FIELDS = ("name", "state", "runtime_s", "parent_id", "root_id", "group_id", "chord_id", "queue",
               "worker", "sent_at", "started_at", "finished_at")


@dataclass
class Workflow:
    """Nodes (task id -> fields of `NODE_FIELDS`, ``{}`` for an id outside the history), directed
    edges (parent -> child, header -> chord callback) and each node's depth from the root."""

    root: str
    nodes: dict[str, dict] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    truncated: bool = False

    def depths(self) -> dict[str, int]:
        """Longest-path depth of every node from the nodes without parents (so a chord callback
        sits after all of its header tasks)."""
        incoming: dict[str, set[str]] = {n: set() for n in self.nodes}
        for a, b in self.edges:
            if a in incoming and b in incoming:
                incoming[b].add(a)
        depth: dict[str, int] = {}

        def visit(n: str, seen: frozenset) -> int:
            if n in depth:
                return depth[n]
            parents = [p for p in incoming[n] if p not in seen]
            d = 0 if not parents else 1 + max(visit(p, seen | {n}) for p in parents)
            depth[n] = d
            return d

        for n in self.nodes:
            visit(n, frozenset())
        return depth


def build(client, task_id: str, max_nodes: int = 300) -> Workflow | None:
    """The workflow `task_id` belongs to, or None when the task is not in the history.

    Raises:
        StoreError: Redis cannot be reached (`app.store.clients`).
    """
    start = history.task_fields(client, [task_id], NODE_FIELDS)[0]
    if not any(start):
        return None
    first = dict(zip(NODE_FIELDS, start))
    wf = Workflow(root=first.get("root_id") or task_id)
    frontier = list(dict.fromkeys([wf.root, task_id]))
    seen_groups: set[str] = set()
    while frontier:
        if len(wf.nodes) + len(frontier) > max_nodes:
            frontier = frontier[: max(0, max_nodes - len(wf.nodes))]
            wf.truncated = True
        if not frontier:
            break
        nxt: list[str] = []
        groups: list[str] = []
        for tid, (values, kids) in zip(frontier, history.fields_and_children(client, frontier, NODE_FIELDS)):
            node = {k: v for k, v in zip(NODE_FIELDS, values) if v is not None}
            wf.nodes[tid] = node
            for kid in kids:
                wf.edges.add((tid, kid))
                nxt.append(kid)
            if node.get("parent_id"):
                wf.edges.add((node["parent_id"], tid))
                nxt.append(node["parent_id"])
            if node.get("chord_id"):
                wf.edges.add((tid, node["chord_id"]))
                nxt.append(node["chord_id"])
            if node.get("group_id") and node["group_id"] not in seen_groups:
                seen_groups.add(node["group_id"])
                groups.append(node["group_id"])
        for members in history.children_of_each(client, groups):
            nxt.extend(members)
        frontier = [t for t in dict.fromkeys(nxt) if t not in wf.nodes]
    _chord_edges(wf)
    return wf


def _chord_edges(wf: Workflow) -> None:
    """Link every header task of a chord to its callback. Celery sends the callback with the
    header's group id, from the header task that finished last (its parent): a task whose parent
    is in its own group is that group's callback."""
    members: dict[str, set[str]] = {}
    for tid, node in wf.nodes.items():
        if node.get("group_id"):
            members.setdefault(node["group_id"], set()).add(tid)
    for tid, node in wf.nodes.items():
        group, parent = node.get("group_id"), node.get("parent_id")
        if group and parent and wf.nodes.get(parent, {}).get("group_id") == group:
            for member in members[group] - {tid}:
                wf.edges.add((member, tid))
