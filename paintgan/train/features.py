"""The frozen feature network behind the perceptual loss and the Fréchet distance of `paintgan eval`.

ImageNet VGG19 weights cannot be downloaded at run time, so there are two sources:

- `vgg19`: a torchvision VGG19 state dict the user supplies (`--feature-net FILE.pth`, or `$PAINTGAN_VGG19`, or
  `features/vgg19.pth` in the PaintGAN user data folder). torchvision's weights are BSD-3-Clause; the ImageNet
  training data they came from is for non-commercial research, which the user must judge for their own use.
- `random`: a VGG-shaped network (five stages of two 3x3 conv + ReLU, average pooling) whose weights are drawn
  from a fixed seed, so every machine builds the same one and no file is needed. It is PaintGAN's own code (MIT);
  there are no weights to license. Random convolutional features are a known working stand-in for trained
  ones in image generation: they carry enough local structure for texture and style statistics (Ulyanov et al.,
  "Deep Image Prior", 2018; He, Wang & Hopcroft, "A Powerful Generative Model Using Random Weights for the Deep
  Image Representation", NeurIPS 2016). They are weaker than VGG for semantics, so numbers measured with them
  are comparable only with numbers measured with them: `paintgan eval` names the network it used.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from paintgan.errors import CheckpointError

RANDOM_SEED = 20240601
RANDOM_WIDTHS = (32, 64, 128, 256, 256)
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's `vgg19().features` (the SPADE/pix2pixHD taps).
VGG_TAPS = (2, 7, 12, 21, 30)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG_ENV = "PAINTGAN_VGG19"


class FeatureNet(nn.Module):
    """Maps a batch in [-1, 1] to five feature maps, shallow to deep; frozen and in eval mode."""

    def __init__(self, stages: list[nn.Sequential], name: str) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.name = name
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureNet:
        return super().train(False)  # frozen: a parent's .train() must not switch it

    def forward(self, x: Tensor) -> list[Tensor]:
        x = ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


def random_features() -> FeatureNet:
    generator = torch.Generator().manual_seed(RANDOM_SEED)
    stages, channels = [], 3
    for i, width in enumerate(RANDOM_WIDTHS):
        layers: list[nn.Module] = [] if i == 0 else [nn.AvgPool2d(2)]
        for _ in range(2):
            conv = nn.Conv2d(channels, width, 3, padding=1)
            with torch.no_grad():
                # He init keeps activations of a deep random ReLU stack from vanishing or exploding.
                conv.weight.normal_(0.0, (2.0 / (channels * 9)) ** 0.5, generator=generator)
                conv.bias.zero_()
            layers += [conv, nn.ReLU()]
            channels = width
        stages.append(nn.Sequential(*layers))
    return FeatureNet(stages, "random")


def vgg19_features(path: Path) -> FeatureNet:
    from torchvision.models import vgg19

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"feature network file {path} does not exist; expected torchvision VGG19 weights") from None
    except Exception as exc:  # noqa: BLE001  unpickling refuses anything but plain tensors; say so in one line
        raise CheckpointError(f"{path.name} is not a readable weights file ({type(exc).__name__}); expected a VGG19 .pth") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    net = vgg19(weights=None)
    features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    try:
        net.features.load_state_dict(features, strict=True)
    except RuntimeError:
        raise CheckpointError(f"{path.name} does not hold torchvision VGG19 weights (keys features.0 ... features.34)") from None
    layers = list(net.features.children())
    stages, start = [], 0
    for tap in VGG_TAPS:
        stages.append(nn.Sequential(*layers[start : tap]))
        start = tap
    return FeatureNet(stages, "vgg19")


def default_vgg_path() -> Path | None:
    env = os.environ.get(VGG_ENV)
    if env:
        return Path(env)
    home = os.environ.get("PAINTGAN_HOME")
    if home:
        base = Path(home)
    else:
        import platformdirs

        base = Path(platformdirs.user_data_dir("PaintGAN", appauthor=False))
    candidate = base / "features" / "vgg19.pth"
    return candidate if candidate.is_file() else None


def load_feature_net(spec: str = "auto") -> FeatureNet:
    """`auto` (a VGG19 file if one is set up, else `random`), `random`, `vgg19` (must be set up) or a file path."""
    if spec == "random":
        return random_features()
    if spec in ("auto", "vgg19"):
        path = default_vgg_path()
        if path is None:
            if spec == "vgg19":
                raise CheckpointError(
                    f"no VGG19 weights set up; put torchvision's vgg19 .pth at ${VGG_ENV} or pass --feature-net FILE"
                )
            return random_features()
        return vgg19_features(path)
    return vgg19_features(Path(spec))
