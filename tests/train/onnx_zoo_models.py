"""PyTorch architectures for the ONNX zoo tests, small enough for CI: a DS-CNN keyword spotter, a MobileNetV2
(inverted residuals, ReLU6, global average pool), a 1-D CNN over an (N, L, C) signal, a MobileNetV3-small block
(hard-swish, hard-sigmoid squeeze-excite), and one model per further operator the ONNX front end translates.
Imported only where torch is installed."""
from __future__ import annotations

import torch
from torch import nn


def _bn(c: int) -> nn.BatchNorm2d:
    """A BatchNorm with non-trivial statistics, so that folding it into the convolution is tested."""
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return bn


class DSCNN(nn.Module):
    """Keyword spotting on a (1, 49, 10) MFCC map: a strided stem, depthwise-separable blocks, AdaptiveAvgPool."""

    def __init__(self, width: int = 16, blocks: int = 2, classes: int = 12) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, (10, 4), (2, 2), (5, 1)), _bn(width), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width, 3, padding=1, groups=width), _bn(width), nn.ReLU(),
                       nn.Conv2d(width, width, 1), _bn(width), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.residual = stride == 1 and cin == cout
        self.body = nn.Sequential(nn.Conv2d(cin, mid, 1), _bn(mid), nn.ReLU6(),
                                  nn.Conv2d(mid, mid, 3, stride, 1, groups=mid), _bn(mid), nn.ReLU6(),
                                  nn.Conv2d(mid, cout, 1), _bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 at a small width on 32x32 RGB: stem, inverted residuals (one with a skip), 1x1 head, x.mean."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), _bn(8), nn.ReLU6(),
                                      InvertedResidual(8, 8, 1, 1), InvertedResidual(8, 12, 2, 4),
                                      InvertedResidual(12, 12, 1, 4), nn.Conv2d(12, 32, 1), _bn(32), nn.ReLU6())
        self.fc = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class CNN1D(nn.Module):
    """A gesture-style 1-D CNN over an (N, L, C) accelerometer window, permuted to (N, C, L) for Conv1d."""

    def __init__(self, channels: int = 3, classes: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(channels, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(),
                                      nn.MaxPool1d(2), nn.Conv1d(16, 16, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2),
                                      nn.AdaptiveAvgPool1d(1))
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x.transpose(1, 2)).flatten(1))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, squeeze: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce, self.expand = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(torch.relu(self.reduce(self.pool(x)))))


class MobileNetV3Small(nn.Module):
    """MobileNetV3-small's first stages: hard-swish stem, a depthwise block with hard-sigmoid SE, a hard-swish
    expansion block, 1x1 head with hard-swish, pool, classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), _bn(8), nn.Hardswish())
        self.block1 = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1, groups=8), _bn(8), nn.ReLU(), SqueezeExcite(8, 8),
                                    nn.Conv2d(8, 8, 1), _bn(8))
        self.block2 = nn.Sequential(nn.Conv2d(8, 24, 1), _bn(24), nn.Hardswish(),
                                    nn.Conv2d(24, 24, 3, 1, 1, groups=24), _bn(24), nn.Hardswish(),
                                    SqueezeExcite(24, 8), nn.Conv2d(24, 8, 1), _bn(8))
        self.head = nn.Sequential(nn.Conv2d(8, 32, 1), _bn(32), nn.Hardswish(), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Linear(32, 16), nn.Hardswish(), nn.Linear(16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(self.stem(x))
        x = x + self.block2(x)
        return self.classifier(torch.flatten(self.head(x), 1))


class OneOp(nn.Module):
    """A conv, one operator under test, a conv: the operator sees an int8 feature map inside a real graph."""

    def __init__(self, op: nn.Module, cin: int = 4, cmid: int = 8) -> None:
        super().__init__()
        self.pre, self.op, self.post = nn.Conv2d(cin, cmid, 3, padding=1), op, nn.Conv2d(cmid, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.op(self.pre(x)))


class Lambda(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _split_swap(x: torch.Tensor) -> torch.Tensor:
    a, b = torch.split(x, [3, 5], dim=1)
    return torch.cat([b, a], 1)


# operator -> (module, input shape); the TFLite operator each should produce is in the test
OPERATORS = {
    "LeakyRelu": (lambda: OneOp(nn.LeakyReLU(0.1)), (1, 4, 8, 8)),
    "PRelu": (lambda: OneOp(nn.PReLU(8, 0.2)), (1, 4, 8, 8)),
    "Sub_Div": (lambda: OneOp(Lambda(lambda x: (x - torch.relu(x) * 0.5) / 4.0 - 0.5)), (1, 4, 8, 8)),
    "Transpose": (lambda: OneOp(Lambda(lambda x: x.permute(0, 1, 3, 2)[:, :, :, :6])), (1, 4, 8, 6)),
    "Slice": (lambda: OneOp(Lambda(lambda x: x[:, :, 1:7:2, ::2])), (1, 4, 8, 8)),
    "Split": (lambda: OneOp(Lambda(_split_swap)), (1, 4, 8, 8)),
    "ResizeNearest": (lambda: OneOp(nn.Upsample(scale_factor=2)), (1, 4, 6, 6)),
    "ResizeBilinear": (lambda: OneOp(nn.Upsample(scale_factor=2, mode="bilinear")), (1, 4, 6, 6)),
    "ConvTranspose": (lambda: OneOp(nn.ConvTranspose2d(8, 8, 3, 2, 1, 1)), (1, 4, 6, 6)),
    "ConvTransposeSame": (lambda: OneOp(nn.ConvTranspose2d(8, 8, 4, 2, 1)), (1, 4, 6, 6)),
    "ReduceSum_ReduceMax": (lambda: OneOp(Lambda(lambda x: x.sum(1, keepdim=True) + x.amax((2, 3), keepdim=True)),
                                          cmid=8), (1, 4, 8, 8)),
}


MODELS = {"dscnn": (DSCNN, (1, 1, 49, 10)), "mobilenet_v2": (MobileNetV2, (1, 3, 32, 32)),
          "cnn1d": (CNN1D, (1, 64, 3)), "mobilenet_v3_small": (MobileNetV3Small, (1, 3, 32, 32)),
          **OPERATORS}


class _All(nn.Module):
    """Every model side by side, one input and one output each, so that one `torch.onnx.export` call (the
    exporter rebuilds its operator registry on every call: seconds each) exports them all."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        super().__init__()
        self.names = list(modules)
        self.parts = nn.ModuleList(modules.values())

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(part(x) for part, x in zip(self.parts, xs, strict=True))


def export_all(directory) -> dict:
    """Export every model with PyTorch's default exporter (`torch.onnx.export`, dynamo=True since torch 2.9) in one
    call, then cut each one's graph out (`onnx.utils.extract_model`: its input, its output, the nodes between).
    Returns name -> .onnx path."""
    import onnx.utils

    torch.manual_seed(0)
    modules = {name: factory() for name, (factory, _) in MODELS.items()}
    wrapper = _All(modules).eval()
    xs = tuple(torch.randn(*shape) for _, shape in MODELS.values())
    names = [f"x_{name}" for name in MODELS]
    whole = directory / "all.onnx"
    torch.onnx.export(wrapper, xs, str(whole), input_names=names, output_names=[f"y_{n}" for n in MODELS])
    paths = {}
    for name in MODELS:
        paths[name] = directory / f"{name}.onnx"
        onnx.utils.extract_model(str(whole), str(paths[name]), [f"x_{name}"], [f"y_{name}"])
    return paths
