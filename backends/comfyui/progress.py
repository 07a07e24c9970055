"""Job progress weighted by node count and sampler steps; never 100 % before the outputs exist."""

from __future__ import annotations

from typing import Any

# Progress stops short of 1.0 until outputs are downloaded (the job service shows 100 % only when DONE).
CEILING = 0.95


class ProgressTracker:
    """Each node weighs 1, a sampler (a node with `steps`) weighs 1 + steps; cached nodes count as done."""

    def __init__(self, graph: dict[str, Any]) -> None:
        self.weights: dict[str, float] = {}
        for nid, node in graph.items():
            steps = (node.get("inputs") or {}).get("steps") if isinstance(node, dict) else None
            self.weights[nid] = 1.0 + (float(steps) if isinstance(steps, (int, float)) and steps > 0 else 0.0)
        self.total = sum(self.weights.values()) or 1.0
        self.done: dict[str, float] = {}  # node -> fraction of that node done
        self.current: str | None = None

    def cached(self, nodes: list[str]) -> None:
        for nid in nodes:
            self.done[nid] = 1.0

    def node_state(self, nodes: dict[str, Any]) -> None:
        """Apply a `progress_state` message (cumulative per-node state)."""
        for nid, st in nodes.items():
            if not isinstance(st, dict):
                continue
            if st.get("state") == "finished":
                self.done[nid] = 1.0
            else:
                mx = float(st.get("max") or 1.0)
                self.done[nid] = max(self.done.get(nid, 0.0), min(1.0, float(st.get("value") or 0.0) / mx))
                self.current = nid

    def step(self, node: str, value: float, maximum: float) -> None:
        """Apply a `progress` message (sampler step)."""
        if maximum > 0:
            self.done[node] = max(self.done.get(node, 0.0), min(1.0, value / maximum))
            self.current = node

    @property
    def fraction(self) -> float:
        got = sum(self.weights.get(nid, 1.0) * frac for nid, frac in self.done.items() if nid in self.weights)
        return min(CEILING, CEILING * got / self.total)
