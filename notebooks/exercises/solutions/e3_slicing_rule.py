"""Solution of exercise 3: path i's tensors of a form (c) block, and a trained block moved to form (a) by hand."""

import blocks


def path_tensors(state, i, cardinality):
    """Path i's pieces: d rows of every path tensor, but d COLUMNS of the last 1x1 (its input channels)."""
    width = state["conv2.weight"].shape[1]  # the grouped 3x3 is (C·d, d, 3, 3)
    rows = slice(i * width, (i + 1) * width)
    pieces = {}
    for name in ("conv1", "bn1", "conv2", "bn2"):
        for key, tensor in state.items():
            if key.startswith(name + ".") and tensor.ndim > 0:
                pieces[key] = tensor[rows]
    pieces["conv3.weight"] = state["conv3.weight"][:, rows]
    return pieces


def to_form_a(block):
    """A form (a) block holding the trained form (c) block's tensors: each path's pieces, the rest whole."""
    spec = block.spec
    state = block.state_dict()
    new = {}
    for i in range(spec.cardinality):
        for key, tensor in path_tensors(state, i, spec.cardinality).items():
            new[f"paths.{i}.{key}"] = tensor.clone()
        for name in ("bn1", "bn2"):
            new[f"paths.{i}.{name}.num_batches_tracked"] = state[f"{name}.num_batches_tracked"].clone()
    for key, tensor in state.items():
        if key.startswith(("bn3.", "downsample.")):
            new[key] = tensor.clone()
    form_a = blocks.SummedPathsBlock(spec).to(state["conv1.weight"].dtype)
    form_a.load_state_dict(new)
    return form_a.train(block.training)
