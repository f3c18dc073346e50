"""SPADE generator (NVlabs/SPADE `SPADEGenerator`) and its VAE style encoder (`ConvEncoder`).

Generator flow: fc -> head_0 -> up x2 -> G_middle_0 -> (up x2 for `more`/`most`) -> G_middle_1 -> (up x2 -> up_i) for
i = 0..3 -> (`most`: up x2 -> up_4) -> LeakyReLU 0.2 -> conv_img -> tanh; every up is nearest x2. A SPADE layer is
`norm(x) * (1 + gamma) + beta`, norm = parameter-free BatchNorm (running stats in eval) or InstanceNorm, gamma/beta
from 3 convs on the label map resized to the layer by nearest neighbour. A SPADE ResBlk runs SPADE -> LeakyReLU ->
conv twice; its shortcut (when channels change) is conv_s(SPADE_s(x)) with no activation. Spectral norm is folded
into plain weights when a checkpoint is read (`paintgan.checkpoints.normalize`), so the modules here are plain.

Latent grid: upstream fixes it from the training crop (sw = crop // 2^k, sh = round(sw / aspect)). Here it is
derived from the input at forward time (H / 2^k x W / 2^k, k = 5/6/7 for normal/more/most), which equals upstream
at the training size and lets any multiple of 2^k work. Without the VAE, fc is a conv on the label map resized to
that grid, so nothing else changes. With the VAE, fc is a Linear whose width fixes the trained grid; its output is
viewed channels-first at the trained grid (as upstream) and, only when the input asks for another grid, resized
bilinearly (align_corners False) to it: the picture keeps its composition and the label map drives the detail.

Detection from a state dict (what the weights show, and the heuristics for what they do not):
* ngf from head_0.conv_0; input channels from head_0's mlp_shared; norm = batch if param_free_norm has running
  stats, else instance; kernel size of the modulation convs; `most` if up_4 exists; VAE if fc is a Linear.
* Input channels split by preset: 184 = coco (182 labels + dontcare + instance edges), 151 = ade20k (150 + dontcare),
  36 = cityscapes (35 + instance edges, `more` upsampling, crop 512, aspect 2). Any other count C is taken as
  C labels with no dontcare and no edge channel (what SPADE's custom/facades modes do).
* `normal` and `more` have identical keys: `more` is assumed for the cityscapes preset, `normal` otherwise.
* crop size / aspect: with the VAE, from fc's width (a square grid, or 1:2 for cityscapes); without it, not in the
  weights, so the preset's training size (cityscapes 512 wide at aspect 2, otherwise 256 square).

Encoder: `paintgan.families.spade.detect_encoder` / `build_encoder` (and `paintgan.checkpoints.load_encoder`). It is not
a registered family because it is not a generator: a file holding one is rejected by `checkpoints.detect` with a hint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from paintgan.errors import CheckpointError, InputError
from paintgan.families import Family, register
from paintgan.families.blocks import param_free_norm, upsample2
from paintgan.families.layout import check, matches, shape
from paintgan.render_core import DONTCARE_VALUE, instance_edges  # noqa: F401  instance_edges: re-exported

NAME = "spade"
UPSAMPLING = {"normal": 5, "more": 6, "most": 7}
PARAM_FREE_NORMS = ("batch", "instance")
HIDDEN = 128  # upstream hardcodes the width of the modulation network


@dataclass(frozen=True)
class Preset:
    name: str
    label_nc: int
    contain_dontcare: bool
    instance_edges: bool
    num_upsampling_layers: str
    crop_size: int
    aspect_ratio: float

    @property
    def semantic_nc(self) -> int:
        return self.label_nc + self.contain_dontcare + self.instance_edges


PRESETS = {
    p.semantic_nc: p
    for p in (
        Preset("coco", 182, True, True, "normal", 256, 1.0),
        Preset("ade20k", 150, True, False, "normal", 256, 1.0),
        Preset("cityscapes", 35, False, True, "more", 512, 2.0),
    )
}


@dataclass(frozen=True)
class SpadeConfig:
    label_nc: int = 182
    contain_dontcare: bool = True
    instance_edges: bool = True
    ngf: int = 64
    num_upsampling_layers: str = "normal"
    use_vae: bool = False
    z_dim: int = 256
    norm: str = "batch"
    kernel_size: int = 3
    crop_size: int = 256
    aspect_ratio: float = 1.0

    def __post_init__(self) -> None:
        check(self.label_nc >= 1 and self.ngf >= 1 and self.z_dim >= 1, NAME, "label_nc, ngf and z_dim must be >= 1")
        check(self.num_upsampling_layers in UPSAMPLING, NAME, f"num_upsampling_layers must be one of {tuple(UPSAMPLING)}")
        check(self.norm in PARAM_FREE_NORMS, NAME, f"norm must be one of {PARAM_FREE_NORMS}, got {self.norm!r}")
        check(self.kernel_size % 2 == 1, NAME, f"kernel_size must be odd, got {self.kernel_size}")
        check(self.num_upsampling_layers != "most" or self.ngf >= 2, NAME, "`most` needs ngf >= 2")
        check(self.crop_size >= 1 and self.aspect_ratio > 0, NAME, "crop_size and aspect_ratio must be positive")

    @property
    def semantic_nc(self) -> int:
        return self.label_nc + self.contain_dontcare + self.instance_edges

    @property
    def latent_dim(self) -> int:
        """Length of the z a forward pass takes (0: deterministic, no z)."""
        return self.z_dim if self.use_vae else 0

    @property
    def latent_grid(self) -> tuple[int, int]:
        """(sh, sw) of the training crop, as upstream computes it; the VAE's fc is sized for it."""
        sw = self.crop_size // 2 ** UPSAMPLING[self.num_upsampling_layers]
        return round(sw / self.aspect_ratio), sw


class SegmapPyramid:
    """The label map resized (nearest) to each layer's size, computed once per size within one forward."""

    def __init__(self, seg: Tensor) -> None:
        self._by_size: dict[tuple[int, int], Tensor] = {tuple(seg.shape[2:]): seg}
        self._seg = seg

    def at(self, size: tuple[int, int]) -> Tensor:
        if size not in self._by_size:
            self._by_size[size] = F.interpolate(self._seg, size=size, mode="nearest")
        return self._by_size[size]


class SPADE(nn.Module):
    def __init__(self, norm: str, norm_nc: int, label_nc: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = param_free_norm(norm, norm_nc)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, HIDDEN, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(HIDDEN, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(HIDDEN, norm_nc, kernel_size, padding=pad)

    def forward(self, x: Tensor, seg: SegmapPyramid) -> Tensor:
        actv = self.mlp_shared(seg.at((x.shape[2], x.shape[3])))
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin: int, fout: int, config: SpadeConfig) -> None:
        super().__init__()
        c = config
        fmiddle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = nn.Conv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, 3, padding=1)
        self.norm_0 = SPADE(c.norm, fin, c.semantic_nc, c.kernel_size)
        self.norm_1 = SPADE(c.norm, fmiddle, c.semantic_nc, c.kernel_size)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)
            self.norm_s = SPADE(c.norm, fin, c.semantic_nc, c.kernel_size)

    def forward(self, x: Tensor, seg: SegmapPyramid) -> Tensor:
        shortcut = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    def __init__(self, config: SpadeConfig) -> None:
        super().__init__()
        c, nf = config, config.ngf
        self.config = c
        if c.use_vae:
            sh, sw = c.latent_grid
            self.fc: nn.Module = nn.Linear(c.z_dim, 16 * nf * sh * sw)
        else:
            self.fc = nn.Conv2d(c.semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, c)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, c)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, c)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, c)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, c)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, c)
        self.up_3 = SPADEResnetBlock(2 * nf, nf, c)
        final_nc = nf
        if c.num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(nf, nf // 2, c)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    def forward(self, seg: Tensor, z: Tensor | None = None) -> Tensor:
        c = self.config
        scale = 2 ** UPSAMPLING[c.num_upsampling_layers]
        grid = (seg.shape[2] // scale, seg.shape[3] // scale)
        if c.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], c.z_dim, dtype=seg.dtype, device=seg.device)
            x = self.fc(z).view(-1, 16 * c.ngf, *c.latent_grid)
            if grid != c.latent_grid:
                x = F.interpolate(x, size=grid, mode="bilinear", align_corners=False)
        else:
            x = self.fc(F.interpolate(seg, size=grid, mode="nearest"))
        pyramid = SegmapPyramid(seg)
        x = upsample2(self.head_0(x, pyramid))
        x = self.G_middle_0(x, pyramid)
        if c.num_upsampling_layers != "normal":
            x = upsample2(x)
        x = self.G_middle_1(x, pyramid)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(upsample2(x), pyramid)
        if c.num_upsampling_layers == "most":
            x = self.up_4(upsample2(x), pyramid)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))



def size_multiple(config: SpadeConfig) -> int:
    return 2 ** UPSAMPLING[config.num_upsampling_layers]


def _vae_crop(cells: int, scale: int, aspect: float) -> int | None:
    """The training crop width whose latent grid has `cells` cells, if the grid has the preset's aspect."""
    sw = round(math.sqrt(cells * aspect))
    if sw >= 1 and sw * round(sw / aspect) == cells:
        return sw * scale
    return None


def detect(sd: dict[str, Tensor]) -> SpadeConfig | None:
    head, mlp, fc = (
        shape(sd, "head_0.conv_0.weight"),
        shape(sd, "head_0.norm_0.mlp_shared.0.weight"),
        shape(sd, "fc.weight"),
    )
    if head is None or mlp is None or fc is None or len(mlp) != 4 or head[0] % 16:
        return None
    ngf, semantic_nc, kernel = head[0] // 16, mlp[1], mlp[2]
    preset = PRESETS.get(semantic_nc, Preset("custom", semantic_nc, False, False, "normal", 256, 1.0))
    upsampling = "most" if "up_4.conv_0.weight" in sd else preset.num_upsampling_layers
    norm = "batch" if "head_0.norm_0.param_free_norm.running_mean" in sd else "instance"
    use_vae, z_dim, crop, aspect = len(fc) == 2, 256, preset.crop_size, preset.aspect_ratio
    if use_vae:
        z_dim, scale = fc[1], 2 ** UPSAMPLING[upsampling]
        cells = fc[0] // (16 * ngf)
        found = _vae_crop(cells, scale, aspect)
        if found is None and aspect != 1.0:
            aspect, found = 1.0, _vae_crop(cells, scale, 1.0)
        if found is None:
            return None
        crop = found
    try:
        config = SpadeConfig(
            preset.label_nc, preset.contain_dontcare, preset.instance_edges, ngf, upsampling,
            use_vae, z_dim, norm, kernel, crop, aspect,
        )  # fmt: skip
    except CheckpointError:
        return None
    return config if matches(SPADEGenerator, config, sd) else None


# ---- style encoder -------------------------------------------------------------------------------------------

ENCODER_NORMS = ("instance", "batch", "none")


@dataclass(frozen=True)
class EncoderConfig:
    ngf: int = 64
    n_layers: int = 6  # upstream builds layer6 only when trained with crop_size >= 256
    norm: str = "instance"
    z_dim: int = 256

    def __post_init__(self) -> None:
        check(self.ngf >= 1 and self.z_dim >= 1, "spade encoder", "ngf and z_dim must be >= 1")
        check(self.n_layers in (5, 6), "spade encoder", f"n_layers must be 5 or 6, got {self.n_layers}")
        check(self.norm in ENCODER_NORMS, "spade encoder", f"norm must be one of {ENCODER_NORMS}")

    @property
    def input_size(self) -> int:
        """Side the encoder resizes every style image to, so that its last layer is 4x4.

        Upstream always resizes to 256, which only fits 6 layers; a 5-layer encoder cannot run there at all.
        """
        return 4 * 2**self.n_layers


class Encoder(nn.Module):
    """Style image in [-1, 1] -> (mu, logvar), each N x z_dim."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        widths = [3] + [config.ngf * m for m in (1, 2, 4, 8, 8, 8)][: config.n_layers]
        for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False), start=1):
            setattr(self, f"layer{i}", _encoder_layer(cin, cout, config.norm))
        self.fc_mu = nn.Linear(config.ngf * 8 * 16, config.z_dim)
        self.fc_var = nn.Linear(config.ngf * 8 * 16, config.z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        side = self.config.input_size
        if x.shape[2:] != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        for i in range(1, self.config.n_layers + 1):
            x = getattr(self, f"layer{i}")(x if i == 1 else F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


def _encoder_layer(cin: int, cout: int, norm: str) -> nn.Module:
    if norm == "none":
        return nn.Conv2d(cin, cout, 3, stride=2, padding=1)
    conv = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)  # a bias before a norm does nothing
    if norm == "batch":
        return nn.Sequential(conv, nn.BatchNorm2d(cout, affine=True))
    return nn.Sequential(conv, nn.InstanceNorm2d(cout, affine=False))


def build_encoder(config: EncoderConfig) -> Encoder:
    return Encoder(config)


def detect_encoder(sd: dict[str, Tensor]) -> EncoderConfig | None:
    mu = shape(sd, "fc_mu.weight")
    first = shape(sd, "layer1.0.weight") or shape(sd, "layer1.weight")
    if mu is None or first is None or len(first) != 4:
        return None
    if "layer1.weight" in sd:
        norm = "none"
    elif "layer1.1.running_mean" in sd:
        norm = "batch"
    else:
        norm = "instance"
    n_layers = 6 if any(k.startswith("layer6.") for k in sd) else 5
    try:
        config = EncoderConfig(first[0], n_layers, norm, mu[0])
    except CheckpointError:
        return None
    return config if matches(build_encoder, config, sd) else None


# ---- label inputs ---------------------------------------------------------------------------------------------

def semantic_tensor(
    labels: Tensor, label_nc: int, dontcare: bool, instance_edges: Tensor | None = None
) -> Tensor:
    """SPADE's network input: one-hot labels (+ the dontcare channel) (+ the instance edge channel), float N x C x H x W.

    `labels` is N x H x W of channel indices. With `dontcare`, the value 255 goes to channel `label_nc` (as do
    indices equal to label_nc, as upstream). `instance_edges` is N x H x W (or N x 1 x H x W) of 0/1.
    """
    if labels.dim() != 3:
        raise InputError(f"label map tensor has shape {tuple(labels.shape)}; expected N x H x W")
    labels = labels.long()
    channels = label_nc + 1 if dontcare else label_nc
    if dontcare:
        labels = torch.where(labels == DONTCARE_VALUE, torch.full_like(labels, label_nc), labels)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= channels):
        bad = int(labels.max()) if int(labels.max()) >= channels else int(labels.min())
        allowed = f"0..{channels - 1}" + (f" or {DONTCARE_VALUE}" if dontcare else "")
        raise InputError(f"label index {bad} is outside this model's label set; expected {allowed}")
    one_hot = torch.zeros(labels.shape[0], channels, *labels.shape[1:], dtype=torch.float32, device=labels.device)
    one_hot.scatter_(1, labels.unsqueeze(1), 1.0)
    if instance_edges is None:
        return one_hot
    edges = instance_edges if instance_edges.dim() == 4 else instance_edges.unsqueeze(1)
    if edges.shape[0] != one_hot.shape[0] or edges.shape[1] != 1 or edges.shape[2:] != one_hot.shape[2:]:
        raise InputError(
            f"instance edge map has shape {tuple(instance_edges.shape)}; expected {tuple(labels.shape)} like the labels"
        )
    return torch.cat([one_hot, edges.to(one_hot)], 1)


FAMILY = Family(NAME, SpadeConfig, SPADEGenerator, size_multiple, detect, conditional="labels")
register(FAMILY)
