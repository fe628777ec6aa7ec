"""An RFC 6962 tree that grows one leaf at a time, for the writer's checkpoints.

Recomputing the root over every leaf at each checkpoint is O(n) per checkpoint, O(n²) per run.
Keeping only the right edge — the roots of the perfect subtrees the leaves so far split into
(one per set bit of the size, RFC 6962 §2.1) — makes an append amortised O(1) and a root
O(log n), with the same result as `checkpoint.root_of` over all the leaves."""
from __future__ import annotations

import hashlib

from .checkpoint import node_hash


class RightEdge:
    """The roots of the perfect subtrees of the leaves appended so far, largest (leftmost) first."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []
        """(leaves under it, its hash); the sizes are distinct powers of two, decreasing."""

    def append(self, leaf: bytes) -> None:
        """Add a leaf hash; two subtrees of the same size merge, as a binary counter carries."""
        width, h = 1, leaf
        while self._edge and self._edge[-1][0] == width:
            _, left = self._edge.pop()
            h = node_hash(left, h)
            width *= 2
        self._edge.append((width, h))
        self.size += 1

    def root(self) -> bytes:
        """MTH of all the leaves: the subtrees folded right to left."""
        if not self._edge:
            return hashlib.sha256(b"").digest()
        h = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            h = node_hash(left, h)
        return h
