"""Windows over feature maps: Conv (2-D, depthwise, and 1-D as a 2-D one row high), ConvTranspose, MaxPool,
AveragePool (2-D and 1-D), GlobalAveragePool and Resize (nearest, bilinear; opset 9's Upsample too)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinyml.train.onnx.arithmetic import fold_batchnorm

if TYPE_CHECKING:
    from tinyml.train.onnx.state import Translator


def _as_2d(a: dict, rank: int) -> dict:
    """1-D window attributes as 2-D ones over a (1, L) map: kernel (1, k), pads (0, b, 0, e)."""
    if rank != 3:
        return a
    out = dict(a)
    for key in ("kernel_shape", "strides", "dilations"):
        if key in a:
            out[key] = [1, *a[key]]
    if "pads" in a:
        out["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
    if "output_padding" in a:
        out["output_padding"] = [0, *a["output_padding"]]
    return out


def _tf_same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pad(tr: Translator, node, t, a, k, s, d, allow_zero_pad: bool, allow_same: bool):
    """None: use padding='same'; else the (maybe zero-padded) tensor for padding='valid'."""
    h, w = int(t.shape[1]), int(t.shape[2])
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    same = [_tf_same_pads(h, k[0], s[0], d[0]), _tf_same_pads(w, k[1], s[1], d[1])]
    if auto == "VALID":
        return t
    if auto not in ("NOTSET", "", "SAME_UPPER"):
        tr.fail(node, f"auto_pad={auto} is not supported")
    p = list(a.get("pads", (0, 0, 0, 0)))
    pads = same if auto == "SAME_UPPER" else [(p[0], p[2]), (p[1], p[3])]
    if a.get("ceil_mode", 0):
        for size, (pb, pe), kk, ss, dd in zip((h, w), pads, k, s, d, strict=True):
            if (size + pb + pe - ((kk - 1) * dd + 1)) % ss:
                tr.fail(node, "ceil_mode=1 changes the output size here; export with ceil_mode=False")
    if pads == [(0, 0), (0, 0)]:
        return t
    if pads == same and allow_same:
        return None
    if not allow_zero_pad:
        tr.fail(node, f"padding {p} is neither 0 nor TensorFlow's 'same' padding")
    return tr.keras.layers.ZeroPadding2D(tuple(pads))(t)


def _onnx_shape(t, rank: int) -> tuple[int, ...]:
    h, w, c = (int(v) for v in t.shape[1:])
    return (1, c, h, w) if rank == 4 else (1, c, w)


def conv(tr: Translator, node, a: dict) -> None:
    keras = tr.keras
    x = tr.canonical(node)
    w = tr.const(node, node.input[1]).astype(np.float64)
    if x.rank not in (3, 4) or w.ndim != x.rank:
        tr.fail(node, "only 1-D and 2-D convolutions are supported")
    a = _as_2d(a, x.rank)
    w = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]) if x.rank == 3 else w
    b = tr.optional_const(node, 2)
    b = b.astype(np.float64) if b is not None else np.zeros(w.shape[0])
    group = a.get("group", 1)
    cin = int(x.t.shape[-1])
    w, b, last = fold_batchnorm(tr, node, w, b, 0)
    kh, kw = w.shape[2:]
    strides, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
    t = _pad(tr, node, x.t, a, (kh, kw), strides, dil, allow_zero_pad=True, allow_same=True)
    padding = "same" if t is None else "valid"
    t = x.t if t is None else t
    if group == 1:
        layer = keras.layers.Conv2D(w.shape[0], (kh, kw), strides, padding, dilation_rate=dil)
        out = layer(t)
        layer.set_weights([w.transpose(2, 3, 1, 0).astype(np.float32), b.astype(np.float32)])
    elif group == cin and w.shape[1] == 1:
        mult = w.shape[0] // cin
        layer = keras.layers.DepthwiseConv2D((kh, kw), strides, padding, depth_multiplier=mult, dilation_rate=dil)
        out = layer(t)
        layer.set_weights([w.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1).astype(np.float32),
                           b.astype(np.float32)])
    else:
        tr.fail(node, f"grouped convolution (group={group}) is supported only as depthwise (group = channels)")
    tr.set(last, out, _onnx_shape(out, x.rank))


def conv_transpose(tr: Translator, node, a: dict) -> None:
    """Keras' 'valid' Conv2DTranspose gives (in - 1) * s + max(k, s) rows; ONNX's pads crop that at both ends
    (output_padding gives back rows at the end), so the result is 'same' where TensorFlow crops alike, else
    'valid' followed by a crop."""
    x = tr.canonical(node)
    w = tr.const(node, node.input[1]).astype(np.float64)
    if x.rank not in (3, 4) or w.ndim != x.rank:
        tr.fail(node, "only 1-D and 2-D transposed convolutions are supported")
    if a.get("group", 1) != 1 or tuple(a.get("dilations", (1,) * (x.rank - 2))) != (1,) * (x.rank - 2):
        tr.fail(node, "grouped or dilated transposed convolutions are not supported")
    if "output_shape" in a or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        tr.fail(node, "output_shape / auto_pad are not supported; export with explicit padding")
    a = _as_2d(a, x.rank)
    w = w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]) if x.rank == 3 else w
    b = tr.optional_const(node, 2)
    b = b.astype(np.float64) if b is not None else np.zeros(w.shape[1])
    k, s = w.shape[2:], tuple(a.get("strides", (1, 1)))
    pads, extra = list(a.get("pads", (0, 0, 0, 0))), list(a.get("output_padding", (0, 0)))
    size_in = (int(x.t.shape[1]), int(x.t.shape[2]))
    crops, same = [], True
    for i in range(2):
        full = (size_in[i] - 1) * s[i] + max(k[i], s[i])
        out = (size_in[i] - 1) * s[i] + k[i] + extra[i] - pads[i] - pads[i + 2]
        crops.append((pads[i], full - out - pads[i]))
        same &= out == size_in[i] * s[i] and pads[i] == max(k[i] - s[i], 0) // 2
        if crops[-1][1] < 0:
            tr.fail(node, "output_padding larger than the padding is not supported")
    padding = "same" if same else "valid"
    layer = tr.keras.layers.Conv2DTranspose(w.shape[1], tuple(k), s, padding)
    out = layer(x.t)
    layer.set_weights([w.transpose(2, 3, 1, 0).astype(np.float32), b.astype(np.float32)])
    if not same and any(c != (0, 0) for c in crops):
        out = tr.keras.layers.Cropping2D(tuple(crops))(out)
    tr.set(node, out, _onnx_shape(out, x.rank))


def _pool(tr: Translator, node, a: dict, cls) -> None:
    x = tr.canonical(node)
    if x.rank not in (3, 4):
        tr.fail(node, "only 1-D and 2-D pooling is supported")
    a = _as_2d(a, x.rank)
    k = tuple(a["kernel_shape"])
    s = tuple(a.get("strides", (1, 1)))
    if tuple(a.get("dilations", (1, 1))) != (1, 1):
        tr.fail(node, "dilated pooling is not supported")
    # AveragePool counting the padding, or MaxPool after a ReLU: explicit zero padding is exact.
    # Otherwise only TensorFlow's 'same' padding (which leaves the padding out) matches.
    include = node.op_type == "AveragePool" and a.get("count_include_pad", 0) == 1
    zero_pad_ok = include or (node.op_type == "MaxPool" and x.nonneg)
    t = _pad(tr, node, x.t, a, k, s, (1, 1), allow_zero_pad=zero_pad_ok, allow_same=not include)
    padding = "same" if t is None else "valid"
    out = cls(k, s, padding)(x.t if t is None else t)
    tr.set(node, out, _onnx_shape(out, x.rank), nonneg=x.nonneg and node.op_type == "MaxPool")


def max_pool(tr: Translator, node, a: dict) -> None:
    if len(node.output) > 1 and node.output[1]:
        tr.fail(node, "the indices output is not supported")
    _pool(tr, node, a, tr.keras.layers.MaxPooling2D)


def average_pool(tr: Translator, node, a: dict) -> None:
    _pool(tr, node, a, tr.keras.layers.AveragePooling2D)


def global_average_pool(tr: Translator, node, a: dict) -> None:
    x = tr.canonical(node)
    tr.set(node, tr.layers["Reduce"]("mean", (1, 2), True)(x.t), (*x.shape[:2], *(1 for _ in x.shape[2:])))


def resize(tr: Translator, node, a: dict) -> None:
    """Nearest with an integer factor (any coordinate mode PyTorch exports: they agree there) or (bi)linear with
    half_pixel / pytorch_half_pixel (align_corners=False), align_corners or asymmetric coordinates."""
    x = tr.canonical(node)
    if x.rank not in (3, 4):
        tr.fail(node, "only 1-D and 2-D feature maps can be resized")
    mode = a.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = a.get("coordinate_transformation_mode", b"half_pixel" if node.op_type == "Resize" else b"asymmetric")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    nearest_mode = a.get("nearest_mode", b"round_prefer_floor")
    nearest_mode = nearest_mode.decode() if isinstance(nearest_mode, bytes) else nearest_mode
    if node.op_type == "Upsample":
        scales, sizes = tr.optional_const(node, 1), None
    else:
        scales, sizes = tr.optional_const(node, 2), tr.optional_const(node, 3)
    if a.get("antialias", 0) or "axes" in a:
        tr.fail(node, "antialias / axes are not supported")
    if sizes is not None and sizes.size:
        out = [int(v) for v in sizes]
    elif scales is not None and scales.size:
        out = [int(np.floor(d * float(f))) for d, f in zip(x.shape, scales, strict=True)]
    else:
        tr.fail(node, "needs constant scales or sizes")
    if out[:2] != list(x.shape[:2]):
        tr.fail(node, "only the spatial axes can be resized")
    size = (1, out[2]) if x.rank == 3 else (out[2], out[3])
    size_in = (int(x.t.shape[1]), int(x.t.shape[2]))
    if mode == "nearest":
        if any(o % i for o, i in zip(size, size_in, strict=True)):
            tr.fail(node, "nearest resizing is supported by integer factors only (e.g. scale_factor=2)")
        if ctm == "asymmetric" and nearest_mode != "floor" or ctm not in ("asymmetric", "half_pixel",
                                                                          "pytorch_half_pixel"):
            tr.fail(node, f"nearest resizing with {ctm}/{nearest_mode} is not supported")
        layer = tr.layers["Resize"](size, False, False, False)
    elif mode == "linear":
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
            tr.fail(node, f"linear resizing with coordinate_transformation_mode={ctm} is not supported")
        layer = tr.layers["Resize"](size, True, ctm == "align_corners", ctm in ("half_pixel",
                                                                                 "pytorch_half_pixel"))
    else:
        tr.fail(node, f"mode={mode} is not supported: use nearest or (bi)linear")
    tr.set(node, layer(x.t), tuple(out))


OPS = {"Conv": conv, "ConvTranspose": conv_transpose, "MaxPool": max_pool, "AveragePool": average_pool,
       "GlobalAveragePool": global_average_pool, "Resize": resize, "Upsample": resize}
