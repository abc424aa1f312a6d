"""Data-movement operators, each folded into one or more boxes of `tm_strided_copy_s8` (firmware/runtime/src/
reshape/strided_copy_s8.c): TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, DEPTH_TO_SPACE,
SPACE_TO_DEPTH. A box is a count and a source and destination stride per dimension; `_box` drops dimensions of one
element and merges neighbours contiguous on both sides, so a plain slice of rows becomes one run of bytes.

GATHER, whose positions may come from a tensor computed at run time, has its own loop (`tm_gather_s8`).

The int8 kernels of the interpreter copy the stored bytes (the converter gives input and output one
quantization), so the copies do too. No output shares its input's bytes: every operator writes a buffer of its own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Arg, Call, Decl, Lit, Lowered, Offset, Ref
from tinyml.compiler.codegen.ops.common import require_const, require_int8, require_version
from tinyml.compiler.ir.graph import Operator, Tensor

COPY_DIMS = 6  # TM_COPY_DIMS of tinyml/kernels.h
KERNEL = "reshape/strided_copy_s8.c"


def strides(shape: Sequence[int]) -> list[int]:
    """Row-major element strides of `shape`."""
    result, step = [], 1
    for d in reversed(shape):
        result.append(step)
        step *= d
    return result[::-1]


def _box(op: Operator, ctx: LoweringContext, counts: Sequence[int], src: Sequence[int],
         dst: Sequence[int]) -> tuple[int, ...]:
    """The C initializer of a tm_copy_box: dimensions of one element dropped, contiguous neighbours merged."""
    merged: list[list[int]] = []
    for c, s, d in zip(counts, src, dst, strict=True):
        if c == 1:
            continue
        if merged and merged[-1][1] == s * c and merged[-1][2] == d * c:
            merged[-1] = [merged[-1][0] * c, s, d]
        else:
            merged.append([c, s, d])
    if len(merged) > COPY_DIMS:
        raise ctx.fail(op, f"the copy needs {len(merged)} dimensions; at most {COPY_DIMS} are supported")
    merged = [[1, 0, 0]] * (COPY_DIMS - len(merged)) + merged
    return tuple(tuple(m[k] for m in merged) for k in range(3))


def _copies(op: Operator, ctx: LoweringContext, boxes: list[tuple[Arg, Arg, Sequence[int], Sequence[int],
                                                                   Sequence[int]]]) -> Lowered:
    """One tm_strided_copy_s8 call per (source, destination, counts, source strides, destination strides)."""
    decls, calls = [], []
    for k, (src, dst, counts, src_strides, dst_strides) in enumerate(boxes):
        if any(c == 0 for c in counts):
            continue
        name = f"op{op.index}_box{k}"
        decls.append(Decl("tm_copy_box", name, _box(op, ctx, counts, src_strides, dst_strides)))
        calls.append(Call("tm_strided_copy_s8", (Ref(name), src, dst)))
    return Lowered(kernels=(KERNEL,), decls=tuple(decls), calls=tuple(calls))


def _check(op: Operator, ctx: LoweringContext, versions: tuple[int, ...], data: Sequence[Tensor],
           outputs: Sequence[Tensor]) -> None:
    require_version(ctx, op, versions, outputs[0])
    require_int8(ctx, op, *data, *outputs)
    for t in data:
        if t.size == 0:
            raise ctx.fail(op, f"tensor {t.index} '{t.name}' is empty; empty tensors are not supported")


def _const_ints(op: Operator, ctx: LoweringContext, t: Tensor, what: str) -> list[int]:
    require_const(ctx, op, t, what)
    if t.dtype not in ("int32", "int64"):
        raise ctx.fail(op, f"{what} '{t.name}' is {t.dtype}; int32 or int64 is supported")
    return [int(v) for v in t.data.reshape(-1)]


def _outputs(op: Operator, ctx: LoweringContext) -> list[Tensor]:
    return [ctx.tensor(op, k, outputs=True) for k in range(len(op.outputs))]


def _require_shape(op: Operator, ctx: LoweringContext, t: Tensor, shape: Sequence[int]) -> None:
    if tuple(t.shape) != tuple(shape):
        raise ctx.fail(op, f"output tensor {t.index} '{t.name}' has shape {list(t.shape)}, the operator gives "
                           f"{list(shape)}")


def _axis(op: Operator, ctx: LoweringContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.fail(op, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def lower_transpose(op: Operator, ctx: LoweringContext) -> Lowered:
    x, perm_t, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    _check(op, ctx, (2,), [x], [y])
    perm = _const_ints(op, ctx, perm_t, "permutation")
    if sorted(perm) != list(range(len(x.shape))):
        raise ctx.fail(op, f"permutation {perm} does not fit input {list(x.shape)}")
    _require_shape(op, ctx, y, [x.shape[p] for p in perm])
    src = strides(x.shape)
    return _copies(op, ctx, [(ctx.data(x), ctx.activation(y), y.shape, [src[p] for p in perm], strides(y.shape))])


def _slice(op: Operator, ctx: LoweringContext, x: Tensor, y: Tensor, starts: Sequence[int], steps: Sequence[int],
           counts: Sequence[int]) -> Lowered:
    src = strides(x.shape)
    start = sum(b * s for b, s in zip(starts, src, strict=True))
    return _copies(op, ctx, [(Offset(ctx.data(x), start), ctx.activation(y), counts,
                              [s * k for s, k in zip(src, steps, strict=True)], strides(counts))])


def lower_slice(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    _check(op, ctx, (2,), [x], [y])
    begin = _const_ints(op, ctx, ctx.tensor(op, 1), "begin")
    size = _const_ints(op, ctx, ctx.tensor(op, 2), "size")
    rank = len(x.shape)
    if len(begin) != rank or len(size) != rank:
        raise ctx.fail(op, f"begin {begin} and size {size} do not fit input {list(x.shape)}")
    counts = [x.shape[d] - begin[d] if size[d] == -1 else size[d] for d in range(rank)]
    if any(b < 0 or c < 0 or b + c > x.shape[d] for d, (b, c) in enumerate(zip(begin, counts, strict=True))):
        raise ctx.fail(op, f"begin {begin} and size {size} reach outside input {list(x.shape)}")
    _require_shape(op, ctx, y, counts)
    return _slice(op, ctx, x, y, begin, [1] * rank, counts)


def lower_strided_slice(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    _check(op, ctx, (2,), [x], [y])
    for option in ("ellipsisMask", "newAxisMask"):
        if ctx.option(op, option, 0):
            raise ctx.fail(op, f"option {option} is not supported (only begin, end and shrink-axis masks are)")
    if ctx.option(op, "offset", False):
        raise ctx.fail(op, "option offset is not supported")
    begin = _const_ints(op, ctx, ctx.tensor(op, 1), "begin")
    end = _const_ints(op, ctx, ctx.tensor(op, 2), "end")
    step = _const_ints(op, ctx, ctx.tensor(op, 3), "strides")
    rank = len(x.shape)
    if not len(begin) == len(end) == len(step) == rank:
        raise ctx.fail(op, f"begin {begin}, end {end} and strides {step} do not fit input {list(x.shape)}")
    begin_mask, end_mask = ctx.option(op, "beginMask", 0), ctx.option(op, "endMask", 0)
    shrink = ctx.option(op, "shrinkAxisMask", 0)
    starts, steps, counts, kept = [], [], [], []
    for d, size in enumerate(x.shape):
        if step[d] == 0:
            raise ctx.fail(op, f"stride 0 on dimension {d}")
        if shrink >> d & 1:
            index = begin[d] + size if begin[d] < 0 else begin[d]
            if not 0 <= index < size:
                raise ctx.fail(op, f"index {begin[d]} is out of range on dimension {d} of {list(x.shape)}")
            first, k, count = index, 1, 1
        else:
            span = slice(None if begin_mask >> d & 1 else begin[d], None if end_mask >> d & 1 else end[d], step[d])
            first, stop, k = span.indices(size)  # TFLite clamps begin and end as Python does
            count = len(range(first, stop, k))
            kept.append(count)
        starts.append(first)
        steps.append(k)
        counts.append(count)
    _require_shape(op, ctx, y, kept)
    return _slice(op, ctx, x, y, starts, steps, counts)


def _split(op: Operator, ctx: LoweringContext, x: Tensor, axis: int, sizes: Sequence[int]) -> Lowered:
    """Consecutive parts of `x` along `axis`, one per output."""
    ys = _outputs(op, ctx)
    if len(sizes) != len(ys) or sum(sizes) != x.shape[axis] or any(s < 0 for s in sizes):
        raise ctx.fail(op, f"sizes {list(sizes)} do not split dimension {axis} of {list(x.shape)} into "
                           f"{len(ys)} outputs")
    src = strides(x.shape)
    boxes, at = [], 0
    for y, size in zip(ys, sizes, strict=True):
        shape = list(x.shape)
        shape[axis] = size
        _require_shape(op, ctx, y, shape)
        boxes.append((Offset(ctx.data(x), at * src[axis]), ctx.activation(y), shape, src, strides(shape)))
        at += size
    return _copies(op, ctx, boxes)


def lower_split(op: Operator, ctx: LoweringContext) -> Lowered:
    x = ctx.tensor(op, 1)  # SPLIT's inputs are (axis, input)
    _check(op, ctx, (2,), [x], _outputs(op, ctx))
    (axis,) = _const_ints(op, ctx, ctx.tensor(op, 0), "axis")
    axis = _axis(op, ctx, axis, len(x.shape))
    parts = len(op.outputs)
    if x.shape[axis] % parts:
        raise ctx.fail(op, f"dimension {axis} of {list(x.shape)} does not split into {parts} equal parts")
    return _split(op, ctx, x, axis, [x.shape[axis] // parts] * parts)


def lower_split_v(op: Operator, ctx: LoweringContext) -> Lowered:
    x = ctx.tensor(op, 0)
    _check(op, ctx, (2,), [x], _outputs(op, ctx))
    sizes = _const_ints(op, ctx, ctx.tensor(op, 1), "size_splits")
    (axis,) = _const_ints(op, ctx, ctx.tensor(op, 2), "axis")
    axis = _axis(op, ctx, axis, len(x.shape))
    if sizes.count(-1) == 1:  # one size may be inferred
        sizes[sizes.index(-1)] = x.shape[axis] - (sum(sizes) + 1)
    return _split(op, ctx, x, axis, sizes)


def lower_pack(op: Operator, ctx: LoweringContext) -> Lowered:
    xs = [ctx.tensor(op, k) for k in range(len(op.inputs))]
    y = ctx.tensor(op, 0, outputs=True)
    _check(op, ctx, (2,), xs, [y])
    axis = _axis(op, ctx, ctx.option(op, "axis", 0), len(y.shape))
    shape = list(xs[0].shape)
    if any(tuple(x.shape) != tuple(shape) for x in xs):
        raise ctx.fail(op, "the packed inputs must have one shape")
    _require_shape(op, ctx, y, shape[:axis] + [len(xs)] + shape[axis:])
    out = strides(y.shape)
    dst = out[:axis] + out[axis + 1:]
    return _copies(op, ctx, [(ctx.data(x), Offset(ctx.activation(y), k * out[axis]), shape, strides(shape), dst)
                             for k, x in enumerate(xs)])


def lower_unpack(op: Operator, ctx: LoweringContext) -> Lowered:
    x, ys = ctx.tensor(op, 0), _outputs(op, ctx)
    _check(op, ctx, (2,), [x], ys)
    axis = _axis(op, ctx, ctx.option(op, "axis", 0), len(x.shape))
    if x.shape[axis] != len(ys):
        raise ctx.fail(op, f"dimension {axis} of {list(x.shape)} does not unpack into {len(ys)} outputs")
    shape = list(x.shape[:axis]) + list(x.shape[axis + 1:])
    src = strides(x.shape)
    boxes = []
    for k, y in enumerate(ys):
        _require_shape(op, ctx, y, shape)
        boxes.append((Offset(ctx.data(x), k * src[axis]), ctx.activation(y), shape, src[:axis] + src[axis + 1:],
                      strides(shape)))
    return _copies(op, ctx, boxes)


def _block_size(op: Operator, ctx: LoweringContext, x: Tensor, y: Tensor) -> int:
    _check(op, ctx, (2,), [x], [y])
    if len(x.shape) != 4:
        raise ctx.fail(op, f"input {list(x.shape)} must be 4-D (NHWC)")
    return ctx.option(op, "blockSize", minimum=1)


def lower_depth_to_space(op: Operator, ctx: LoweringContext) -> Lowered:
    """out[n, h * bs + i, w * bs + j, c] = in[n, h, w, (i * bs + j) * C' + c], written in the output's order."""
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    bs = _block_size(op, ctx, x, y)
    n, h, w, c = x.shape
    if c % (bs * bs):
        raise ctx.fail(op, f"depth {c} is not a multiple of block size {bs} squared")
    depth = c // (bs * bs)
    _require_shape(op, ctx, y, [n, h * bs, w * bs, depth])
    counts = [n, h, bs, w, bs, depth]
    src = [h * w * c, w * c, bs * depth, c, depth, 1]
    return _copies(op, ctx, [(ctx.data(x), ctx.activation(y), counts, src, strides(counts))])


def lower_space_to_depth(op: Operator, ctx: LoweringContext) -> Lowered:
    """out[n, h, w, (i * bs + j) * C + c] = in[n, h * bs + i, w * bs + j, c], written in the output's order."""
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    bs = _block_size(op, ctx, x, y)
    n, h, w, c = x.shape
    if h % bs or w % bs:
        raise ctx.fail(op, f"height {h} and width {w} are not multiples of block size {bs}")
    _require_shape(op, ctx, y, [n, h // bs, w // bs, c * bs * bs])
    counts = [n, h // bs, w // bs, bs, bs, c]
    src = [h * w * c, bs * w * c, bs * c, w * c, c, 1]
    return _copies(op, ctx, [(ctx.data(x), ctx.activation(y), counts, src, strides(counts))])




def lower_gather(op: Operator, ctx: LoweringContext) -> Lowered:
    """GATHER along one axis (batch_dims 0), int32 indices constant or computed: `tm_gather_s8`."""
    x, indices, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    _check(op, ctx, (2,), [x], [y])
    if indices.dtype != "int32":
        raise ctx.fail(op, f"indices '{indices.name}' are {indices.dtype}; only int32 indices are supported")
    if ctx.option(op, "batchDims", 0):
        raise ctx.fail(op, "batch_dims other than 0 is not supported")
    axis = _axis(op, ctx, ctx.option(op, "axis", 0), len(x.shape))
    if indices.is_constant and any(not 0 <= i < x.shape[axis] for i in indices.data.reshape(-1).tolist()):
        raise ctx.fail(op, f"indices '{indices.name}' reach outside dimension {axis} of {list(x.shape)}")
    _require_shape(op, ctx, y, [*x.shape[:axis], *indices.shape, *x.shape[axis + 1:]])
    outer = math.prod(x.shape[:axis])
    inner = math.prod(x.shape[axis + 1:])
    call = Call("tm_gather_s8", (Lit(outer), Lit(x.shape[axis]), Lit(inner), Lit(indices.size), ctx.data(indices),
                                 ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("reshape/gather_s8.c",), calls=(call,))
