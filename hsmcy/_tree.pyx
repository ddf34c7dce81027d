# cython: language_level=3
"""Tree building in O(V) loops: Huffman merging and flattening a parent array into paths.

``hsmcy.tree`` checks its inputs and calls these; nothing here validates.  Bounds
checks follow the build (``HSMCY_DEBUG=1`` turns them on, see ``setup.py``).
"""
from libc.stdint cimport int64_t, uint8_t, int32_t

import numpy as np


def huffman_merge(const int64_t[::1] counts, const int64_t[::1] order,
                  int64_t[::1] parent, uint8_t[::1] branch):
    """Huffman merging with two queues, O(V) after the sort.

    Leaves are nodes ``0 .. V-1``; merge ``i`` creates node ``V + i`` (inner node i).
    ``order`` lists the leaves by ascending count.  Created nodes come out in
    non-decreasing weight, so the two lightest nodes are always at the front of the
    leaf queue or of the created-node queue: no heap is needed.  Fills ``parent``
    (-1 for the root) and ``branch`` (0 for the lighter child, 1 for the other).
    """
    cdef int64_t n_leaves = counts.shape[0]
    cdef int64_t n_nodes = 2 * n_leaves - 1
    cdef int64_t next_leaf = 0, next_inner = n_leaves, merge, pick, side
    weights_array = np.empty(n_nodes, dtype=np.int64)
    cdef int64_t[::1] weight = weights_array
    with nogil:
        for pick in range(n_leaves):
            weight[pick] = counts[pick]
        parent[n_nodes - 1] = -1
        branch[n_nodes - 1] = 0
        for merge in range(n_leaves - 1):
            weight[n_leaves + merge] = 0
            for side in range(2):
                # Lightest remaining node: ties go to the leaf queue.
                if next_leaf < n_leaves and (next_inner >= n_leaves + merge
                                             or counts[order[next_leaf]] <= weight[next_inner]):
                    pick = order[next_leaf]
                    next_leaf += 1
                else:
                    pick = next_inner
                    next_inner += 1
                parent[pick] = n_leaves + merge
                branch[pick] = side
                weight[n_leaves + merge] += weight[pick]


def node_depths(const int64_t[::1] parent):
    """Depth of every node of a tree given as a parent array (``-1`` at the root).

    Each node's depth is found by walking up to the first node whose depth is known
    and filling in the chain, so every node is visited O(1) times.  The caller
    guarantees there is no cycle.
    """
    cdef int64_t n_nodes = parent.shape[0], node, current, steps, depth
    depths = np.full(n_nodes, -1, dtype=np.int64)
    cdef int64_t[::1] depth_of = depths
    with nogil:
        for node in range(n_nodes):
            if parent[node] < 0:
                depth_of[node] = 0
        for node in range(n_nodes):
            steps = 0
            current = node
            while depth_of[current] < 0:
                current = parent[current]
                steps += 1
            depth = depth_of[current] + steps
            current = node
            while depth_of[current] < 0:
                depth_of[current] = depth
                depth -= 1
                current = parent[current]
    return depths


def paths_from_parents(const int64_t[::1] parent, const uint8_t[::1] branch, int64_t n_leaves,
                       const int64_t[::1] top_down_order):
    """Flatten a parent array into root-first paths.

    Nodes ``0 .. n_leaves-1`` are leaves, node ``n_leaves + i`` is inner node ``i``;
    ``parent[root] == -1``; ``top_down_order`` lists every node after its parent.
    Depths come top-down in one pass; then each leaf walks up to the root, writing
    its path back to front.  Returns ``(path_offsets, path_nodes, path_codes)``.
    """
    cdef int64_t n_nodes = parent.shape[0], i, node, position
    depth_array = np.zeros(n_nodes, dtype=np.int64)
    cdef int64_t[::1] depth = depth_array
    offsets = np.zeros(n_leaves + 1, dtype=np.int64)
    cdef int64_t[::1] offset = offsets
    with nogil:
        for i in range(n_nodes):
            node = top_down_order[i]
            if parent[node] >= 0:
                depth[node] = depth[parent[node]] + 1
        for node in range(n_leaves):
            offset[node + 1] = offset[node] + depth[node]
    nodes = np.empty(offset[n_leaves], dtype=np.int32)
    codes = np.empty(offset[n_leaves], dtype=np.uint8)
    cdef int32_t[::1] nodes_view = nodes
    cdef uint8_t[::1] codes_view = codes
    with nogil:
        for i in range(n_leaves):
            position = offset[i + 1] - 1
            node = i
            while parent[node] >= 0:
                nodes_view[position] = <int32_t>(parent[node] - n_leaves)
                codes_view[position] = branch[node]
                position -= 1
                node = parent[node]
    return offsets, nodes, codes
