"""The writer's incremental RFC 6962 tree gives the same root as the whole-tree computation at
every size (the checkpoints a witness cosigns must not change when the computation does)."""
from __future__ import annotations

import hashlib

from hamn_tui.audit.witness.checkpoint import leaf_hash, root_of
from hamn_tui.audit.witness.tree import RightEdge


def test_the_right_edge_root_equals_the_whole_tree_root_at_every_size():
    leaves = [leaf_hash(b"line %d" % i) for i in range(300)]
    tree = RightEdge()
    assert tree.root() == hashlib.sha256(b"").digest() == root_of([])
    for i, leaf in enumerate(leaves, 1):
        tree.append(leaf)
        assert tree.size == i
        assert tree.root() == root_of(leaves[:i]), i


def test_the_right_edge_stays_logarithmic():
    tree = RightEdge()
    for i in range(1, 1025):
        tree.append(leaf_hash(b"%d" % i))
        assert len(tree._edge) == bin(i).count("1")
