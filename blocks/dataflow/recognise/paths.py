"""Pass 3: the paths, the connected components of the 3x3 stage's dense (C·d x C·d) weight.

The convolutions of level 2 are laid into one dense weight, so the 3x3 stage is a
(C·d x C·d) matrix of 3x3 kernels. Its connected components are the paths: C of them,
d channels each, when the block is the paper's.
"""

from __future__ import annotations

from blocks.dataflow.recognise.reading import Piece, Reading, group_of
from blocks.dataflow.recognise.records import Deviation, DeviationKind


def paths(r: Reading, pieces: list[Piece], level1: int) -> tuple[list[tuple[list[int], list[int]]], list[Deviation]]:
    """The 3x3 stage's connected components, (level-1 ids, level-2 ids) per path in path order.

    Every group of every 3x3 convolution connects all its inputs to all its outputs;
    groups that share a channel belong to one path. The paper's block has C paths
    of d inputs and d outputs each, every input connected to every output.
    """
    level2 = sum(len(p.outputs) for p in pieces)
    if level2 != level1:  # a pruned network's 3x3 (47 -> 18), or a widening one: no path keeps d channels
        units = [group_of(piece, group) for piece in pieces for group in range(piece.groups)]
        symptom = (
            f"its 3x3 stage makes {level2} channels from the {level1} of its first 1x1, where the paper's 3x3 keeps"
            " the C·d channels it reads (each path d in, d out)"
        )
        return [(list(ins), list(outs)) for outs, ins in units], [Deviation(DeviationKind.WIDTH_CHANGING_3X3, symptom)]
    parent = list(range(level1 + level2))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for piece in pieces:
        for group in range(piece.groups):
            outs, ins = group_of(piece, group)
            root = find(level1 + outs[0])
            for node in [*(level1 + o for o in outs[1:]), *ins]:
                parent[find(node)] = root
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for node in range(level1 + level2):
        ins_list, outs_list = groups.setdefault(find(node), ([], []))
        if node < level1:
            ins_list.append(node)
        else:
            outs_list.append(node - level1)
    connections: dict[int, int] = {}
    for piece in pieces:
        for group in range(piece.groups):
            outs, ins = group_of(piece, group)
            root = find(level1 + outs[0])
            connections[root] = connections.get(root, 0) + len(outs) * len(ins)
    components = sorted(groups.values(), key=lambda g: min(g[0] or [level1]))
    read = sum(len(ins) for ins, outs in components if outs)
    sizes = {(len(ins), len(outs)) for ins, outs in components if outs}
    full = all(connections.get(find(level1 + outs[0]), 0) == len(ins) * len(outs) for ins, outs in components if outs)
    if read < level1 or len(sizes) != 1 or not full or next(iter(sizes))[0] != next(iter(sizes))[1]:
        symptom = (
            f"its 3x3 convolutions do not each read their own path's channels: only {read} of the {level1}"
            " channels of the first 1x1 are read by a 3x3"
            + (f", and the other {level1 - read} are computed for nothing" if read < level1 else "")
            + (", and a path's 3x3 reads channels of another path" if read == level1 else "")
        )
        units = [group_of(piece, group) for piece in pieces for group in range(piece.groups)]
        # C and d as the author meant them: one 3x3 (group) per path, each with its own outputs.
        return [(list(ins), list(outs)) for outs, ins in units], [Deviation(DeviationKind.CROSS_GROUP, symptom)]
    return components, []


# Over 60 lines: the mapping onto form (c) is one slicing rule per level, kept side by side so
# that the three read alike; issue 28 gives the mapping its own module.
