"""Answers to exercises 1-3 of 01_visual_cortex for the similarity report's proof.

``HONEST``: 20 students who each wrote their own answers from the statement, in different styles
(forward and backward loops, recursion, reduce, NumPy, comprehensions; their own names and order).
``COPIES``: 3 students who took a classmate's notebook and disguised it (names changed, functions
and statements reordered, comments rewritten, a few words of the written answer changed);
``COPIED_FROM`` names whose. Every answer passes the
assignment's tests (tests/test_similarity.py checks them against the reference).
"""

HONEST = {
    "s01": (
        """def receptive_field_size(layers):
    field, step = 1, 1
    for k, s in layers:
        field = field + (k - 1) * step
        step = step * s
    return field""",
        """def dense_params(height, width, channels, units):
    return height * width * channels * units + units


def conv_params(kernel_size, in_channels, filters):
    return kernel_size ** 2 * in_channels * filters + filters""",
        "A CNN needs far fewer weights because each neuron only looks at a small patch and the "
        "filter weights are shared. The same filter finds a pattern wherever it appears, and the "
        "local structure of pictures is built in.",
    ),
    "s02": (
        """def receptive_field_size(layers):
    # walk backwards from one output neuron to the input
    r = 1
    for kernel, stride in reversed(layers):
        r = r * stride + (kernel - stride)
    return r""",
        """def conv_params(kernel_size, in_channels, filters):
    per_filter = kernel_size * kernel_size * in_channels + 1
    return per_filter * filters


def dense_params(height, width, channels, units):
    n_inputs = height * width * channels
    return (n_inputs + 1) * units""",
        "Dense layers connect every pixel to every unit, which explodes for big images (ten "
        "million weights for a 100x100 image). Convolutions reuse a kernel across positions so "
        "they generalise across translations and train with less data.",
    ),
    "s03": (
        """def receptive_field_size(layers):
    if not layers:
        return 1
    *first, (k, s) = layers
    inner = receptive_field_size(first)
    gap = 1
    for _, stride in first:
        gap *= stride
    return inner + (k - 1) * gap""",
        """import math


def dense_params(height, width, channels, units):
    return math.prod((height, width, channels, units)) + units


def conv_params(kernel_size, in_channels, filters):
    return math.prod((kernel_size, kernel_size, in_channels, filters)) + filters""",
        "Parameter sharing: one kernel is slid over the whole image, so the number of weights "
        "does not depend on the image size. Translation invariance follows, and there is less "
        "overfitting since the model is much smaller.",
    ),
    "s04": (
        """from functools import reduce


def receptive_field_size(layers):
    def absorb(state, layer):
        seen, spacing = state
        kernel, stride = layer
        return seen + (kernel - 1) * spacing, spacing * stride

    return reduce(absorb, layers, (1, 1))[0]""",
        """def dense_params(height, width, channels, units):
    weights = units * channels * width * height
    biases = units
    return weights + biases


def conv_params(kernel_size, in_channels, filters):
    weights = filters * in_channels * kernel_size * kernel_size
    return weights + filters""",
        "With convolutions we exploit that nearby pixels are related. Fewer connections, weights "
        "shared between positions, and features detected anywhere. A fully connected net would "
        "have to learn each feature at each location.",
    ),
    "s05": (
        """import numpy as np


def receptive_field_size(layers):
    if len(layers) == 0:
        return 1
    arr = np.array(layers, dtype=np.int64)
    kernels, strides = arr[:, 0], arr[:, 1]
    jumps = np.concatenate(([1], np.cumprod(strides)[:-1]))
    return int(1 + np.sum((kernels - 1) * jumps))""",
        """import numpy as np


def dense_params(height, width, channels, units):
    return int(np.prod([height, width, channels]) * units + units)


def conv_params(kernel_size, in_channels, filters):
    return int((np.square(kernel_size) * in_channels + 1) * filters)""",
        "1) many fewer parameters (15,200 vs 10 million in exercise 2); 2) weight sharing gives "
        "translation equivariance; 3) hierarchy of local features matches how images are made.",
    ),
    "s06": (
        """import math


def receptive_field_size(layers):
    total = 1
    for i, (k, _) in enumerate(layers):
        total += (k - 1) * math.prod(s for _, s in layers[:i])
    return total""",
        """def dense_params(height, width, channels, units):
    fan_in = height * width * channels
    return fan_in * units + units


def conv_params(kernel_size, in_channels, filters):
    fan_in = kernel_size * kernel_size * in_channels
    return fan_in * filters + filters""",
        "The main advantage is the parameter count. Because of sharing, a conv layer's size "
        "depends on its kernel and channels only. This also means less memory, quicker training "
        "and features that are found at every location.",
    ),
    "s07": (
        """def receptive_field_size(layers):
    i = len(layers) - 1
    size = 1
    while i >= 0:
        kernel_size, stride = layers[i]
        size = (size - 1) * stride + kernel_size
        i -= 1
    return size""",
        """def dense_params(height, width, channels, units):
    inputs = height * width * channels
    params = 0
    params += inputs * units
    params += units
    return params


def conv_params(kernel_size, in_channels, filters):
    params = 0
    params += kernel_size * kernel_size * in_channels * filters
    params += filters
    return params""",
        "Convolutional networks see local neighbourhoods, like neurons in V1, and reuse the same "
        "weights across the image. So there are orders of magnitude fewer parameters and the "
        "network recognises an object wherever it is.",
    ),
    "s08": (
        """from itertools import accumulate
from operator import mul


def receptive_field_size(layers):
    strides = [s for _, s in layers]
    jumps = [1] + list(accumulate(strides, mul))[:-1]
    return 1 + sum((k - 1) * j for (k, _), j in zip(layers, jumps))""",
        """def conv_params(kernel_size, in_channels, filters):
    return filters * (1 + in_channels * kernel_size * kernel_size)


def dense_params(height, width, channels, units):
    return units * (1 + channels * width * height)""",
        "A dense network treats each pixel independently and needs a weight for every pixel and "
        "neuron. A CNN shares small kernels: few parameters, no need to relearn a pattern at every "
        "place, and a built-in assumption of locality.",
    ),
    "s09": (
        """class _Walker:
    def __init__(self):
        self.seen = 1
        self.jump = 1

    def add(self, kernel, stride):
        self.seen += self.jump * (kernel - 1)
        self.jump *= stride


def receptive_field_size(layers):
    walker = _Walker()
    for layer in layers:
        walker.add(*layer)
    return walker.seen""",
        """def dense_params(height, width, channels, units):
    return (height * width * channels) * units + units * 1


def conv_params(kernel_size, in_channels, filters):
    return filters + filters * in_channels * kernel_size ** 2""",
        "Weight sharing and sparse connectivity. Fewer parameters mean it is cheaper and less "
        "prone to overfit; sharing makes detection independent of position.",
    ),
    "s10": (
        """def receptive_field_size(layers):
    rf = 1
    for kernel_size, stride in layers[::-1]:
        rf = kernel_size + (rf - 1) * stride
    return rf""",
        """def dense_params(height, width, channels, units):
    pixels = height * width
    values = pixels * channels
    return values * units + units


def conv_params(kernel_size, in_channels, filters):
    area = kernel_size * kernel_size
    return (area * in_channels + 1) * filters""",
        "Images are large, so a fully connected layer has a huge number of weights. Convolutional "
        "layers keep the spatial layout, connect locally and share kernels, which reduces the "
        "parameters drastically and makes learned detectors position independent.",
    ),
    "s11": (
        """def receptive_field_size(layers):
    kernels = [k for k, _ in layers]
    strides = [s for _, s in layers]
    answer = 1
    product = 1
    for n in range(len(kernels)):
        answer += (kernels[n] - 1) * product
        product *= strides[n]
    return answer""",
        """def dense_params(height, width, channels, units):
    return units + units * height * width * channels


def conv_params(kernel_size, in_channels, filters):
    return filters + kernel_size * kernel_size * in_channels * filters""",
        "CNNs: local receptive fields, shared weights and pooling. These cut the number of free "
        "parameters, so training needs less data and the learned features transfer across the "
        "image.",
    ),
    "s12": (
        """def receptive_field_size(layers):
    def grow(rest):
        if not rest:
            return 1
        kernel, stride = rest[0]
        return kernel + stride * (grow(rest[1:]) - 1)

    return grow(list(layers))""",
        """def dense_params(height, width, channels, units):
    n = height * width * channels
    return n * units + units


def conv_params(kernel_size, in_channels, filters):
    w = kernel_size * kernel_size * in_channels * filters
    b = filters
    return w + b""",
        "The number of weights of a convolutional layer is independent of the input resolution. "
        "Compare 15,200 with ten million! Sharing also makes the detector equivariant to shifts.",
    ),
    "s13": (
        """import numpy as np


def receptive_field_size(layers):
    layers = np.asarray(layers).reshape(-1, 2)
    spacing = np.cumprod(np.r_[1, layers[:, 1]])[:-1]
    return int((layers[:, 0] - 1) @ spacing + 1)""",
        """import numpy as np


def dense_params(height, width, channels, units):
    shape = np.array([height, width, channels])
    return int(shape.prod() + 1) * units


def conv_params(kernel_size, in_channels, filters):
    return int(kernel_size * kernel_size * in_channels + 1) * filters""",
        "Three reasons: much smaller models, invariance to where things are in the picture "
        "(because of shared filters), and an inductive bias towards local patterns that compose "
        "into bigger ones.",
    ),
    "s14": (
        """def receptive_field_size(layers):
    result = 1
    distance = 1
    for layer in layers:
        ksize = layer[0]
        result = result + distance * (ksize - 1)
        distance = distance * layer[1]
    return result""",
        """def dense_params(height, width, channels, units):
    return units * (height * width * channels + 1)


def conv_params(kernel_size, in_channels, filters):
    return filters * (kernel_size * kernel_size * in_channels + 1)""",
        "Fully connected layers do not scale to images. A convolution reuses its weights at every "
        "position, so it has few parameters, is easier to train and recognises a pattern "
        "regardless of its location.",
    ),
    "s15": (
        """from functools import reduce


def receptive_field_size(layers):
    return reduce(lambda rf, layer: (rf - 1) * layer[1] + layer[0], reversed(layers), 1)""",
        """def dense_params(height, width, channels, units):
    count = 0
    for _ in range(units):
        count += height * width * channels + 1
    return count


def conv_params(kernel_size, in_channels, filters):
    one = kernel_size * kernel_size * in_channels + 1
    return sum(one for _ in range(filters))""",
        "Because each unit only connects to a local region and the filters are shared, a CNN has "
        "far fewer parameters. It generalises better and is translation equivariant.",
    ),
    "s16": (
        """def receptive_field_size(layers):
    state = {"size": 1, "hop": 1}
    for kernel, stride in layers:
        state["size"] += (kernel - 1) * state["hop"]
        state["hop"] *= stride
    return state["size"]""",
        """def conv_params(kernel_size, in_channels, filters):
    kernel_weights = kernel_size * kernel_size
    return filters * kernel_weights * in_channels + filters


def dense_params(height, width, channels, units):
    flat = height * width * channels
    return flat * units + units""",
        "Sparse local connections plus weight sharing. For exercise 2 this means 15 thousand "
        "versus 10 million parameters. The model also learns features that work anywhere in the "
        "frame and needs fewer examples.",
    ),
    "s17": (
        """def receptive_field_size(layers):
    covered = 1
    stride_product = 1
    for (kernel, stride) in layers:
        covered += stride_product * kernel - stride_product
        stride_product *= stride
    return covered""",
        """def dense_params(height, width, channels, units):
    return height * width * channels * units + 1 * units


def conv_params(kernel_size, in_channels, filters):
    return (in_channels * kernel_size * kernel_size) * filters + filters""",
        "They are more efficient: neurons look at neighbourhoods and share weights. This "
        "drastically lowers the number of parameters, reduces overfitting, and means that an edge "
        "detector learned in one corner works in the other corners too.",
    ),
    "s18": (
        """def receptive_field_size(layers):
    if len(layers) == 0:
        return 1
    kernels, strides = zip(*layers)
    out = 1
    for depth in range(len(kernels)):
        prod = 1
        for s in strides[:depth]:
            prod *= s
        out += (kernels[depth] - 1) * prod
    return out""",
        """def dense_params(height, width, channels, units):
    return sum([height * width * channels * units, units])


def conv_params(kernel_size, in_channels, filters):
    return sum([kernel_size * kernel_size * in_channels * filters, filters])""",
        "CNN layers are locally connected and use the same weights everywhere, whereas a dense "
        "network learns separate weights for each pixel. Result: fewer parameters, better "
        "generalisation, translation invariance.",
    ),
    "s19": (
        """def receptive_field_size(layers):
    width = 1
    for kernel, stride in reversed(list(layers)):
        width = stride * width + kernel - stride
    return width""",
        """def dense_params(height, width, channels, units):
    in_features = channels * height * width
    out_features = units
    return in_features * out_features + out_features


def conv_params(kernel_size, in_channels, filters):
    in_features = in_channels * kernel_size ** 2
    return in_features * filters + filters""",
        "The dense layer scales with the image (height x width x channels x units), the "
        "convolutional one only with kernel size and channels. So CNNs are small, fast and learn "
        "position independent features from local context.",
    ),
    "s20": (
        """def receptive_field_size(layers):
    jumps = [1]
    for _, s in layers:
        jumps.append(jumps[-1] * s)
    return 1 + sum((layer[0] - 1) * jump for layer, jump in zip(layers, jumps))""",
        """def dense_params(height, width, channels, units):
    inputs = height
    inputs *= width
    inputs *= channels
    return (inputs + 1) * units


def conv_params(kernel_size, in_channels, filters):
    inputs = kernel_size
    inputs *= kernel_size
    inputs *= in_channels
    return (inputs + 1) * filters""",
        "Far fewer parameters thanks to local connectivity and weight sharing; the features are "
        "found anywhere in the image; the architecture matches the hierarchical structure of "
        "natural images, as in the visual cortex.",
    ),
}

COPIED_FROM = {"c01": "s09", "c02": "s18", "c03": "s05"}

COPIES = {
    # s09 renamed, the helper class after the function, comments added
    "c01": (
        '''def receptive_field_size(layers):
    # accumulate layer by layer
    tracker = Tracker()
    for l in layers:
        tracker.step(*l)
    return tracker.field


class Tracker:
    """Keeps the field and the spacing."""

    def __init__(self):
        self.field = 1  # start with one pixel
        self.spacing = 1

    def step(self, ksize, strd):
        self.field += self.spacing * (ksize - 1)
        self.spacing *= strd''',
        """def conv_params(kernel_size, in_channels, filters):
    # biases plus weights
    return filters + filters * in_channels * kernel_size ** 2


def dense_params(height, width, channels, units):
    return (height * width * channels) * units + units * 1""",
        "Weight sharing and sparse connectivity: fewer parameters mean that it is cheaper and less "
        "prone to overfit; the sharing makes detection independent of the position.",
    ),
    # s18 renamed, statements reordered, comments rewritten
    "c02": (
        """def receptive_field_size(layers):
    # special case: no layers
    if len(layers) == 0:
        return 1
    ks, ss = zip(*layers)
    res = 1
    for d in range(len(ks)):
        p = 1
        for st in ss[:d]:
            p *= st  # product of earlier strides
        res += (ks[d] - 1) * p
    return res""",
        """def conv_params(kernel_size, in_channels, filters):
    return sum([kernel_size * kernel_size * in_channels * filters, filters])


def dense_params(height, width, channels, units):
    # weights then biases
    return sum([height * width * channels * units, units])""",
        "CNN layers are connected locally and use the same weights everywhere, whereas a dense "
        "network learns separate weights for every pixel. Result: fewer parameters, better "
        "generalization and translation invariance.",
    ),
    # s05 renamed, the imports and lines moved, comments added
    "c03": (
        """import numpy


def receptive_field_size(layers):
    if len(layers) == 0:
        return 1  # nothing: one pixel
    a = numpy.array(layers, dtype=numpy.int64)
    st, kn = a[:, 1], a[:, 0]
    hops = numpy.concatenate(([1], numpy.cumprod(st)[:-1]))
    # sum the contributions of every layer
    return int(1 + numpy.sum((kn - 1) * hops))""",
        """import numpy


def conv_params(kernel_size, in_channels, filters):
    return int((numpy.square(kernel_size) * in_channels + 1) * filters)


def dense_params(height, width, channels, units):
    return int(numpy.prod([height, width, channels]) * units + units)""",
        "First, many fewer parameters (15,200 vs 10 million in exercise 2). Second, weight sharing "
        "gives translation equivariance. Third, the hierarchy of local features matches how images "
        "are made.",
    ),
}


def students(names=None) -> dict[str, dict[str, list[str]]]:
    """id -> {"code": [cells], "markdown": [cells]} for the given ids (default: all 23)."""
    every = {**HONEST, **COPIES}
    return {
        sid: {"code": [every[sid][0], every[sid][1]], "markdown": [every[sid][2]]}
        for sid in (names or every)
    }
