"""Shape ops on activations: Reshape, Flatten, Squeeze, Unsqueeze (a RESHAPE only where the element order allows
it, else folded into the next Gemm's weight rows), Transpose (folded into a following flatten, else TRANSPOSE),
Slice (STRIDED_SLICE), Split (SPLIT / SPLIT_V) and Concat (CONCATENATION)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinyml.train.onnx.layout import KERAS_AXIS, Act, canonical_order, keras_shape

if TYPE_CHECKING:
    from tinyml.train.onnx.state import Translator

RESHAPES = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}


def reshape_to(tr: Translator, node, x: Act, target: tuple[int, ...]) -> None:
    """Reshape `x` to the ONNX shape `target`: nothing or a RESHAPE when the Keras element order is right for
    it, a flatten with the order remembered for a (N, F) target, else refused."""
    if int(np.prod(target)) != int(np.prod(x.shape)) or (target and target[0] != 1):
        tr.fail(node, f"cannot reshape {x.shape} to {target} (the batch axis must stay)")
    if len(target) not in (2, 3, 4):
        tr.fail(node, f"a reshape to rank {len(target)} is not supported")
    order = x.element_order()
    kshape = keras_shape(target)
    t = x.t if tuple(int(d) for d in x.t.shape[1:]) == kshape else None
    if np.array_equal(order, canonical_order(target)):
        tr.set(node, t if t is not None else tr.keras.layers.Reshape(kshape)(x.t), target, nonneg=x.nonneg)
    elif len(target) == 2:
        tr.set(node, t if t is not None else tr.keras.layers.Reshape(kshape)(x.t), target, order, x.nonneg)
    else:
        tr.fail(node, f"reshaping {x.shape} to {target} reorders the data in the NHWC layout; flatten to (N, -1) "
                      "instead")


def reshape(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    shape = [int(v) for v in tr.const(node, node.input[1])]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 and i < x.rank else v for i, v in enumerate(shape)]
    if shape.count(-1) == 1:
        known = int(np.prod([v for v in shape if v != -1]))
        shape[shape.index(-1)] = int(np.prod(x.shape)) // max(known, 1)
    reshape_to(tr, node, x, tuple(shape))


def flatten(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    axis = a.get("axis", 1) % max(x.rank, 1)
    if axis != 1:
        tr.fail(node, "only Flatten(axis=1) is supported")
    reshape_to(tr, node, x, (1, int(np.prod(x.shape[1:]))))


def _axes(tr: Translator, node, a: dict, rank: int) -> list[int] | None:
    axes = a.get("axes", tr.optional_const(node, 1))
    return None if axes is None else sorted(int(v) % rank for v in axes)


def squeeze(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    axes = _axes(tr, node, a, x.rank)
    axes = [i for i, d in enumerate(x.shape) if d == 1 and i > 0] if axes is None else axes
    if 0 in axes:
        tr.fail(node, "the batch axis cannot be squeezed")
    reshape_to(tr, node, x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def unsqueeze(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    axes = _axes(tr, node, a, x.rank + len(a.get("axes", tr.optional_const(node, 1))))
    shape = list(x.shape)
    for ax in axes:
        shape.insert(ax, 1)
    reshape_to(tr, node, x, tuple(shape))


def transpose(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    perm = [int(p) for p in a.get("perm", range(x.rank)[::-1])]
    if perm[0] != 0:
        tr.fail(node, "the batch axis must stay first")
    shape = tuple(x.shape[p] for p in perm)
    readers = tr.consumers.get(node.output[0], [])
    if readers and node.output[0] not in tr.outputs and all(r.op_type in RESHAPES for r in readers):
        moved = np.arange(int(np.prod(x.shape))).reshape(x.shape).transpose(perm).reshape(-1)
        tr.set(node, x.t, shape, np.argsort(moved)[x.element_order()], x.nonneg)   # folded into the reshape
        return
    x = tr.canonical(node)
    axis = KERAS_AXIS[x.rank]
    dims = list(range(len(x.t.shape)))
    for i, p in enumerate(perm):
        dims[axis[i]] = axis[p]
    tr.set(node, tr.keras.layers.Permute(tuple(dims[1:]))(x.t), shape, nonneg=x.nonneg)


def slice_(tr: Translator, node, a: dict) -> None:
    x = tr.canonical(node)
    starts, ends = tr.const(node, node.input[1]), tr.const(node, node.input[2])
    axes = tr.optional_const(node, 3)
    steps = tr.optional_const(node, 4)
    axes = list(range(len(starts))) if axes is None else [int(v) % x.rank for v in axes]
    steps = [1] * len(starts) if steps is None else [int(v) for v in steps]
    spec = [(0, int(d), 1) for d in x.t.shape[1:]]
    shape = list(x.shape)
    for ax, b, e, s in zip(axes, starts, ends, steps, strict=True):
        if s <= 0:
            tr.fail(node, "only positive slice steps are supported")
        b, e, s = slice(int(max(min(b, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)), s).indices(x.shape[ax])
        if ax == 0:
            if (b, e) != (0, 1):
                tr.fail(node, "the batch axis cannot be sliced")
            continue
        spec[KERAS_AXIS[x.rank][ax] - 1] = (b, e, s)
        shape[ax] = len(range(b, e, s))
    tr.set(node, tr.layers["StridedSlice"](tuple(spec))(x.t), tuple(shape), nonneg=x.nonneg)


def split(tr: Translator, node, a: dict) -> None:
    x = tr.canonical(node)
    axis = a.get("axis", 0) % x.rank
    if axis == 0:
        tr.fail(node, "the batch axis cannot be split")
    sizes = tr.optional_const(node, 1)
    sizes = a.get("split", sizes)
    n = len(node.output)
    if sizes is None or len(sizes) == 0:
        part = -(-x.shape[axis] // n)
        sizes = [part] * (n - 1) + [x.shape[axis] - part * (n - 1)]
    sizes = [int(v) for v in sizes]
    outs = tr.layers["Split"](tuple(sizes), KERAS_AXIS[x.rank][axis])(x.t)
    for name, t, size in zip(node.output, outs, sizes, strict=True):
        shape = list(x.shape)
        shape[axis] = size
        tr.vals[name] = Act(t, tuple(shape), None, x.nonneg)


def concat(tr: Translator, node, a: dict) -> None:
    vals = [tr.vals.get(i) for i in node.input]
    if not all(isinstance(v, Act) and v.is_canonical() for v in vals) or len({v.rank for v in vals}) != 1:
        tr.fail(node, "inputs must all be activations of one rank (no constants, no flattened feature maps)")
    rank, axis = vals[0].rank, a["axis"] % vals[0].rank
    if axis == 0:
        tr.fail(node, "concatenation along the batch axis is not supported")
    shape = list(vals[0].shape)
    shape[axis] = sum(v.shape[axis] for v in vals)
    out = tr.keras.layers.Concatenate(axis=KERAS_AXIS[rank][axis])([v.t for v in vals])
    tr.set(node, out, tuple(shape), nonneg=all(v.nonneg for v in vals))


OPS = {"Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Transpose": transpose,
       "Slice": slice_, "Split": split, "Concat": concat}
