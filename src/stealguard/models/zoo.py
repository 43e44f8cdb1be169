"""The model zoo: CIFAR-style families with a width multiplier, grey or colour inputs of any size.

Every model is a :class:`Classifier`: ``normalise -> extractor -> head``. Inputs are float images in [0, 1]
(NCHW); the normalisation (dataset mean/std) is a buffer of the model, saved in its file, so no caller can apply
different preprocessing at train and verify time. ``extractor`` (an ``nn.Sequential`` of blocks ending in a flat
feature vector) and ``head`` (the decision layers) give the split later methods need.

Names: ``cnn``, ``resnet8``, ``resnet20``, ``resnet<6n+2>``, ``resnet18``, ``vgg11|13|16|19`` (with BN),
``wrn<depth>-<k>`` (e.g. ``wrn16-1``, ``wrn28-10``), ``mobilenetv2``, ``airbench`` (a fast-training net after Keller
Jordan's airbench: three conv groups of 64/256/256 channels at width 1; width 0.5 is the CPU presets' choice), ``densenet`` (DenseNet-BC-40, growth 12) or
``densenet<depth>-<growth>``; for feature vectors (text: sentence embeddings of a frozen public encoder, see
:mod:`stealguard.data.text`), ``mlp``: a two-layer extractor and two decision layers (``ModelSpec.input_dim`` > 0).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError

ARCHS = ("cnn", "airbench", "resnet8", "resnet20", "resnet18", "vgg11", "vgg13", "vgg16", "vgg19", "wrn16-1", "wrn28-10",
         "mobilenetv2", "densenet", "mlp")
VECTOR_ARCHS = ("mlp",)  # architectures that take feature vectors (N, input_dim), not images


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model: stored in its file's metadata."""

    arch: str
    num_classes: int
    in_channels: int = 3
    image_size: tuple[int, int] = (32, 32)
    width: float = 1.0
    mean: tuple[float, ...] = field(default_factory=lambda: (0.0,))
    std: tuple[float, ...] = field(default_factory=lambda: (1.0,))
    classes: list[str] | None = None
    input_dim: int = 0  # > 0: the model takes feature vectors of this length (text embeddings), not images

    def __post_init__(self) -> None:
        self.image_size = tuple(int(v) for v in self.image_size)  # type: ignore[assignment]
        self.mean, self.std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(self.mean) == 1 and self.in_channels > 1:
            self.mean, self.std = self.mean * self.in_channels, self.std * self.in_channels
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if not 0 < self.width <= 64:
            raise ConfigError(f"width must be in (0, 64], got {self.width}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ConfigError("mean/std must have one value per input channel")
        if min(self.image_size) < 8:
            raise ConfigError(f"images must be at least 8x8, got {self.image_size}")
        if self.input_dim < 0:
            raise ConfigError(f"input_dim must be >= 0, got {self.input_dim}")
        vector = self.arch.lower() in VECTOR_ARCHS
        if vector and not self.input_dim:
            raise ConfigError(f"'{self.arch}' takes feature vectors (a text dataset), not images")
        if self.input_dim and not vector:
            raise ConfigError(f"'{self.arch}' takes images; feature vectors (a text dataset) need one of {', '.join(VECTOR_ARCHS)}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One input's shape: (C, H, W) for images, (input_dim,) for feature vectors."""
        return (self.input_dim,) if self.input_dim else (self.in_channels, *self.image_size)

    def to_json(self) -> str:
        """The spec as canonical JSON (sorted keys; stored in every model file)."""
        d = asdict(self)
        if not d["input_dim"]:  # image models: the same bytes (and SHA-256) as before text models existed
            del d["input_dim"]
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        d = json.loads(text)
        d["image_size"] = tuple(d["image_size"])
        return cls(**d)


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


class Classifier(nn.Module):
    """normalise -> extractor (feature vector) -> head (decision layers)."""

    def __init__(self, spec: ModelSpec, extractor: nn.Sequential, head: nn.Module):
        super().__init__()
        self.spec = spec
        self.extractor = extractor
        self.head = head
        self.register_buffer("norm_mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("norm_std", torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vector the decision layers see, for images in [0, 1] (feature-vector models take their
        inputs as they are)."""
        if self.spec.input_dim:
            return self.extractor(x)
        return self.extractor((x - self.norm_mean) / self.norm_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def blocks(self) -> list[nn.Module]:
        """The model's blocks in order, extractor then head (for freezing the first k)."""
        head = list(self.head) if isinstance(self.head, nn.Sequential) else [self.head]
        return list(self.extractor) + head


# ----------------------------------------------------------------------------------------------------- cnn
def _cnn(s: ModelSpec) -> Classifier:
    c1, c2, f = _ch(32, s.width), _ch(64, s.width), _ch(128, s.width)
    ex = nn.Sequential(
        nn.Conv2d(s.in_channels, c1, 3), nn.ReLU(inplace=True),
        nn.Conv2d(c1, c2, 3), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
    )
    h, w = (s.image_size[0] - 4) // 2, (s.image_size[1] - 4) // 2  # the spec fixes the input size
    head = nn.Sequential(nn.Linear(c2 * h * w, f), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(f, s.num_classes))
    return Classifier(s, ex, head)


# ----------------------------------------------------------------------------------------------------- mlp
def _mlp(s: ModelSpec) -> Classifier:
    """Feature vectors (e.g. 384-d sentence embeddings) -> a two-layer extractor -> two decision layers. Each input
    is standardised first (a LayerNorm without weights): unit-norm embeddings have entries of ~1/sqrt(D), on which
    SGD barely moves a freshly initialised layer."""
    h, f = _ch(256, s.width), _ch(128, s.width)
    ex = nn.Sequential(nn.LayerNorm(s.input_dim, elementwise_affine=False),
                       nn.Linear(s.input_dim, h), nn.ReLU(inplace=True), nn.Dropout(0.1),
                       nn.Linear(h, h), nn.ReLU(inplace=True))
    head = nn.Sequential(nn.Linear(h, f), nn.ReLU(inplace=True), nn.Linear(f, s.num_classes))
    return Classifier(s, ex, head)


# ----------------------------------------------------------------------------------------------------- resnet
class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions with BatchNorm and a (projected) shortcut."""
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _resnet(s: ModelSpec, blocks: list[int], channels: list[int], strides: list[int]) -> Classifier:
    chs = [_ch(c, s.width) for c in channels]
    layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(s.in_channels, chs[0], 3, 1, 1, bias=False),
                                             nn.BatchNorm2d(chs[0]), nn.ReLU(inplace=True))]
    cin = chs[0]
    for n, c, st in zip(blocks, chs, strides):
        stage = []
        for i in range(n):
            stage.append(BasicBlock(cin, c, st if i == 0 else 1))
            cin = c
        layers.append(nn.Sequential(*stage))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(s, nn.Sequential(*layers), nn.Linear(cin, s.num_classes))


# ----------------------------------------------------------------------------------------------------- vgg
_VGG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(s: ModelSpec, cfg: list) -> Classifier:
    layers: list[nn.Module] = []
    cin = s.in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))  # ceil: small inputs (28x28) survive five pools
        else:
            c = _ch(v, s.width)
            layers.append(nn.Sequential(nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
            cin = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(s, nn.Sequential(*layers), nn.Linear(cin, s.num_classes))


# ----------------------------------------------------------------------------------------------------- wide resnet
class WideBlock(nn.Module):
    """Wide-ResNet block: pre-activation, two 3x3 convolutions, optional dropout between them."""
    def __init__(self, cin: int, cout: int, stride: int, dropout: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.shortcut = None if (cin == cout and stride == 1) else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv1(o)
        y = F.relu(self.bn2(y))
        if self.dropout:
            y = F.dropout(y, self.dropout, self.training)
        y = self.conv2(y)
        return y + (x if self.shortcut is None else self.shortcut(o))


def _wrn(s: ModelSpec, depth: int, k: int) -> Classifier:
    if (depth - 4) % 6:
        raise ConfigError(f"wide ResNet depth must be 6n+4, got {depth}")
    n = (depth - 4) // 6
    chs = [_ch(16, s.width), _ch(16 * k, s.width), _ch(32 * k, s.width), _ch(64 * k, s.width)]
    layers: list[nn.Module] = [nn.Conv2d(s.in_channels, chs[0], 3, 1, 1, bias=False)]
    cin = chs[0]
    for c, st in zip(chs[1:], (1, 2, 2)):
        layers.append(nn.Sequential(*[WideBlock(cin if i == 0 else c, c, st if i == 0 else 1) for i in range(n)]))
        cin = c
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(s, nn.Sequential(*layers), nn.Linear(cin, s.num_classes))


# ----------------------------------------------------------------------------------------------------- mobilenetv2
class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, 1x1 projection, residual when the shape allows."""
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(inplace=True),
                   nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def _mobilenetv2(s: ModelSpec) -> Classifier:
    # CIFAR variant: stride 1 in the stem and the second stage (inputs are 32x32, not 224x224)
    cfg = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    c0 = _ch(32, s.width)
    layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(s.in_channels, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0), nn.ReLU6(inplace=True))]
    cin = c0
    for t, c, n, st in cfg:
        c = _ch(c, s.width)
        layers.append(nn.Sequential(*[InvertedResidual(cin if i == 0 else c, c, st if i == 0 else 1, t) for i in range(n)]))
        cin = c
    last = _ch(1280, s.width)
    layers += [nn.Sequential(nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)),
               nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(s, nn.Sequential(*layers), nn.Linear(last, s.num_classes))


# ----------------------------------------------------------------------------------------------------- densenet
class DenseLayer(nn.Module):
    """DenseNet layer: bottleneck 1x1 then 3x3 convolution; its output is concatenated to its input."""
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, 4 * growth, 1, bias=False),
                                  nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True), nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.body(x)], 1)


def _densenet(s: ModelSpec, depth: int, growth: int) -> Classifier:
    if (depth - 4) % 6:
        raise ConfigError(f"DenseNet-BC depth must be 6n+4, got {depth}")
    n = (depth - 4) // 6
    g = _ch(growth, s.width)
    cin = 2 * g
    layers: list[nn.Module] = [nn.Conv2d(s.in_channels, cin, 3, 1, 1, bias=False)]
    for stage in range(3):
        block = []
        for _ in range(n):
            block.append(DenseLayer(cin, g))
            cin += g
        layers.append(nn.Sequential(*block))
        if stage < 2:
            cout = cin // 2
            layers.append(nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False), nn.AvgPool2d(2)))
            cin = cout
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(s, nn.Sequential(*layers), nn.Linear(cin, s.num_classes))


# ----------------------------------------------------------------------------------------------------- airbench
class _Scale(nn.Module):
    """Multiply by a constant."""
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def _conv_group(cin: int, cout: int) -> nn.Sequential:
    """conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU: one stage of the airbench net, halving the resolution.
    The convolutions start as identities on their first channels; the BatchNorm scales stay at 1 (not trained) and
    their statistics follow the batches closely (momentum 0.4)."""
    convs = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.Conv2d(cout, cout, 3, padding=1, bias=False)]
    norms = [nn.BatchNorm2d(cout, momentum=0.4), nn.BatchNorm2d(cout, momentum=0.4)]
    for conv in convs:
        nn.init.dirac_(conv.weight.data[: conv.weight.shape[1]])
    for bn in norms:
        bn.weight.requires_grad_(False)
    return nn.Sequential(convs[0], nn.MaxPool2d(2), norms[0], nn.GELU(), convs[1], norms[1], nn.GELU())


def _airbench(s: ModelSpec) -> Classifier:
    """A 2x2 patch convolution (24 channels for colour, no padding), three conv groups, a global max-pool scaled by
    1/9 and one linear layer (the layout of airbench's CIFAR-10 net, without its data-dependent whitening
    initialisation)."""
    stem = 24 if s.in_channels == 3 else 8
    c1, c2, c3 = _ch(64, s.width), _ch(256, s.width), _ch(256, s.width)
    ex = nn.Sequential(nn.Conv2d(s.in_channels, stem, 2, bias=True), _conv_group(stem, c1), _conv_group(c1, c2),
                       _conv_group(c2, c3), nn.AdaptiveMaxPool2d(1), nn.Flatten(), _Scale(1 / 9))
    return Classifier(s, ex, nn.Linear(c3, s.num_classes, bias=False))


# ----------------------------------------------------------------------------------------------------- factory
def build_model(spec: ModelSpec) -> Classifier:
    """Build the (randomly initialised) model described by ``spec``. Seed torch first for reproducibility."""
    a = spec.arch.lower()
    if a == "cnn":
        return _cnn(spec)
    if a == "mlp":
        return _mlp(spec)
    if a == "airbench":
        return _airbench(spec)
    if a == "resnet18":
        return _resnet(spec, [2, 2, 2, 2], [64, 128, 256, 512], [1, 2, 2, 2])
    m = re.fullmatch(r"resnet(\d+)", a)
    if m:
        depth = int(m.group(1))
        if (depth - 2) % 6 or depth < 8:
            raise ConfigError(f"CIFAR ResNet depth must be 6n+2 (8, 20, 32, 56, ...) or 18, got {depth}")
        n = (depth - 2) // 6
        return _resnet(spec, [n, n, n], [16, 32, 64], [1, 2, 2])
    if a in _VGG:
        return _vgg(spec, _VGG[a])
    m = re.fullmatch(r"wrn(\d+)-(\d+)", a)
    if m:
        return _wrn(spec, int(m.group(1)), int(m.group(2)))
    if a == "mobilenetv2":
        return _mobilenetv2(spec)
    if a == "densenet":
        return _densenet(spec, 40, 12)
    m = re.fullmatch(r"densenet(\d+)-(\d+)", a)
    if m:
        return _densenet(spec, int(m.group(1)), int(m.group(2)))
    raise ConfigError(f"unknown architecture '{spec.arch}': choose one of {', '.join(ARCHS)} (or resnetN, wrnD-K, densenetD-K)")


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())
