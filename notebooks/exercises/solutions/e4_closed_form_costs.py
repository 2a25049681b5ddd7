"""Solution of exercise 4: a block's parameters and multiply-adds in closed form."""


def block_cost(spec, size):
    """(parameters, multiply-adds) of a block of ``spec`` on one size x size image.

    A convolution has k·k·(c_in/groups)·c_out weights and does that many multiply-adds at each
    output position; a BN has a weight and a bias per channel.
    """
    channels = spec.cardinality * spec.width  # C·d
    after = ((size - 1) // spec.stride + 1) ** 2  # output positions: the stride sits on the 3x3
    layers = [  # (weights, output positions)
        (spec.in_channels * channels, size * size),  # first 1x1, before the stride
        (3 * 3 * spec.width * channels, after),  # grouped 3x3: each output reads d channels
        (channels * spec.out_channels, after),  # last 1x1
    ]
    norms = [channels, channels, spec.out_channels]
    if spec.stride != 1 or spec.in_channels != spec.out_channels:
        layers.append((spec.in_channels * spec.out_channels, after))  # projection shortcut
        norms.append(spec.out_channels)
    params = sum(weights for weights, _ in layers) + 2 * sum(norms)
    macs = sum(weights * positions for weights, positions in layers)
    return params, macs
