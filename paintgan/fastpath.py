"""Inference fast path: the same generator, rewritten for speed in eval mode, computing the same picture.

`optimize(generator)` returns a copy (sharing every tensor it does not change) with exact rewrites:

* BatchNorm after a convolution (pix2pix, CycleGAN/ResNet with `--norm batch`, the light U-Net's units) is folded
  into that convolution's weight and bias: one pass over the feature map instead of two.
* SPADE and the light label modulation compute `norm(x) * (1 + gamma) + beta` with gamma and beta from two convs.
  With a parameter-free BatchNorm the norm is a per-channel affine map (x - m) * s, so
  out = x * G + B with G = s * (1 + gamma) and B = beta - m * G, both linear in the same features: the two convs
  become ONE conv producing [G; B] and the norm disappears.
* SPADE's `mlp_shared` is a 3x3 conv on the one-hot label map (184 channels for COCO). A conv of a one-hot is a
  table look-up: output(p) = bias + sum over the 9 taps k of W[:, label(p + k), k]. On the CPU that runs as one
  `embedding_bag` (9 rows summed per pixel) instead of a 184-channel GEMM; the instance-edge channel, which is not
  one-hot, keeps a 1-channel conv. The input is checked to be exactly one-hot first; any other input takes the
  conv, so the rewrite never changes what a caller gets.
* channels_last (NHWC) memory format where it was measured to win (pix2pix and SPADE on the CPU; every family on
  a GPU).

Spectral norm needs no step here: `checkpoints.normalize` folds it when a file is read. Outputs match the plain
network within 1e-3 (float rounding of the folded weights); `tests/test_fastpath.py` checks every family.

Tried and not kept (one thread, CPU time, 256 px, on the 2-core dev machine; docs/PERFORMANCE.md):
* TorchScript freeze + `optimize_for_inference` on pix2pix: 173 ms vs 159 ms channels_last eager.
* `torch.compile` (inductor) on pix2pix: 190 s to compile (per input size), then 228 ms vs 161 ms eager.
* SPADE gamma/beta as per-label constants inside label regions, the conv only on 16 px tiles holding a border:
  exact, but the gather/scatter cost more than the conv it saved (2.2 s vs 2.0 s a frame at ngf 64).
* Winograd F(4x4, 3x3) for CycleGAN's 256-channel convs: 1.25x per conv at one thread, less than it should be,
  because torch's CPU matrix products (MKL on the dev machine's AMD CPU) run at about 90 GFLOP/s where its direct
  conv (oneDNN) runs at 230. ONNX Runtime's run at 200, so the rewrite lives in the ONNX export instead
  (`paintgan.onnx_rewrite`), which `backend="auto"` renders CycleGAN, GANILLA and pix2pix with.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from paintgan.families.blocks import LabelModulation
from paintgan.families.light_unet import SeparableUnit
from paintgan.families.spade import SPADE, SegmapPyramid, SPADEGenerator

# Families that ran faster in NHWC on the CPU (oneDNN), measured one thread, CPU time, 256 px: pix2pix 203 vs
# 223 ms, SPADE 2054 vs 2412 ms; CycleGAN (660 vs 645) and GANILLA (374 vs 368) did not gain, their reflection
# pads and instance norms being slower in NHWC. The light families switch layout inside. GPUs: NHWC always
# (tensor cores want it).
CHANNELS_LAST_FAMILIES = ("pix2pix", "spade")


@dataclass(frozen=True)
class FastPath:
    """The rewritten generator and the names of the rewrites applied (reported by `paintgan bench`)."""

    module: nn.Module
    steps: tuple[str, ...]


# ------------------------------------------------------------------------------------------ public


@torch.no_grad()
def optimize(generator: nn.Module, family: str, *, channels_last: bool | None = None) -> FastPath:
    """An eval-mode copy of `generator` with the exact rewrites above; `generator` itself is left unchanged.

    `channels_last` None means: where it wins for `family` on this kind of device (`CHANNELS_LAST_FAMILIES` on
    the CPU, all on a GPU). The copy shares every parameter it does not rewrite, so memory grows only by the
    rewritten layers (with channels_last: by the conv weights, which are copied into NHWC).
    """
    shared = {id(t): t for t in [*generator.parameters(), *generator.buffers()]}
    net = copy.deepcopy(generator, memo=shared).eval()
    steps: list[str] = []
    if _fuse_batchnorm(net):
        steps.append("fold BatchNorm into convs")
    if _fuse_modulations(net):
        steps.append("fold norm into one gamma/beta conv")
    labels = _onehot_lookups(net)
    if labels is not None:
        net = _LabelMaps(net, labels)
        steps.append("one-hot conv as table look-up")
    device = next(generator.parameters(), torch.empty(0)).device
    if channels_last is None:
        channels_last = device.type != "cpu" or family in CHANNELS_LAST_FAMILIES
    if channels_last:
        net = _ChannelsLast(net)
        steps.append("channels_last")
    return FastPath(net, tuple(steps))


# ------------------------------------------------------------------------------------------ BatchNorm


def _eval_bn(module: nn.Module, affine: bool) -> bool:
    """An eval-mode BatchNorm with running statistics (a fixed per-channel affine map), affine or param-free."""
    return (
        isinstance(module, nn.BatchNorm2d)
        and module.affine == affine
        and module.running_mean is not None
        and module.running_var is not None
    )


def _fuse_batchnorm(net: nn.Module) -> int:
    """Fold every eval BatchNorm that directly follows a conv (in a Sequential, or a light unit) into it."""
    count = 0
    for module in list(net.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                conv, bn = module[i], module[i + 1]
                if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and _eval_bn(bn, affine=True):
                    module[i] = fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))
                    module[i + 1] = nn.Identity()
                    count += 1
        elif isinstance(module, SeparableUnit) and _eval_bn(module.norm, affine=True):
            module.conv.pointwise = fuse_conv_bn_eval(module.conv.pointwise, module.norm)  # type: ignore[arg-type]
            module.norm = nn.Identity()
            count += 1
    return count


# ------------------------------------------------------------------------------------------ modulation


def _norm_affine(norm: nn.Module) -> tuple[Tensor, Tensor] | None:
    """(m, s) with norm(x) = (x - m) * s per channel for a param-free eval BatchNorm; None for other norms
    (InstanceNorm depends on the input's own statistics, so it stays)."""
    if not _eval_bn(norm, affine=False):
        return None
    assert isinstance(norm, nn.BatchNorm2d) and norm.running_mean is not None and norm.running_var is not None
    return norm.running_mean.double(), torch.rsqrt(norm.running_var.double() + norm.eps)


def _merged_conv(gamma: nn.Conv2d, beta: nn.Conv2d, norm: nn.Module) -> tuple[nn.Conv2d, bool]:
    """One conv giving [G; B] with out = norm'(x) * G + B; True when the norm went into it (norm' = identity)."""
    wg, bg = gamma.weight.double(), gamma.bias.double() + 1.0  # the "1 +" of 1 + gamma lives in G's bias
    wb, bb = beta.weight.double(), beta.bias.double()
    affine = _norm_affine(norm)
    if affine is not None:
        m, s = affine
        wg, bg = wg * s[:, None, None, None], bg * s
        wb, bb = wb - m[:, None, None, None] * wg, bb - m * bg
    conv = nn.Conv2d(
        gamma.in_channels, 2 * gamma.out_channels, gamma.kernel_size, padding=gamma.padding,  # type: ignore[arg-type]
        padding_mode=gamma.padding_mode, device=gamma.weight.device, dtype=gamma.weight.dtype,
    )
    conv.weight = nn.Parameter(torch.cat([wg, wb]).to(gamma.weight.dtype), requires_grad=False)
    conv.bias = nn.Parameter(torch.cat([bg, bb]).to(gamma.weight.dtype), requires_grad=False)
    return conv.eval(), affine is not None


class FusedSpade(nn.Module):
    """SPADE with gamma and beta (and a BatchNorm) in one conv; `mlp_shared` kept (see `OneHotConv`)."""

    def __init__(self, spade: SPADE) -> None:
        super().__init__()
        gamma, beta = spade.mlp_gamma, spade.mlp_beta
        self.mlp_shared = spade.mlp_shared
        self.mlp, folded = _merged_conv(gamma, beta, spade.param_free_norm)
        self.param_free_norm = nn.Identity() if folded else spade.param_free_norm


    def forward(self, x: Tensor, seg: SegmapPyramid) -> Tensor:
        size = (x.shape[2], x.shape[3])
        shared = self.mlp_shared[0]
        found = shared.labels.level(size, shared.kernel) if isinstance(shared, OneHotConv) else None
        if found is None:
            actv = self.mlp_shared(seg.at(size))
        else:  # the pyramid's 184-channel resize is never made
            actv = self.mlp_shared[1](shared.lookup(*found))
        g, b = self.mlp(actv).chunk(2, dim=1)
        return torch.addcmul(b, self.param_free_norm(x), g)


class FusedModulation(nn.Module):
    """The light families' `LabelModulation` with a BatchNorm folded into its (already merged) 1x1 conv."""

    def __init__(self, mod: LabelModulation) -> None:
        super().__init__()
        gamma_w, beta_w = mod.mlp.weight.chunk(2)
        gamma_b, beta_b = mod.mlp.bias.chunk(2)
        gamma, beta = (nn.Conv2d(mod.mlp.in_channels, w.shape[0], 1) for w in (gamma_w, beta_w))
        gamma.weight, gamma.bias = nn.Parameter(gamma_w), nn.Parameter(gamma_b)
        beta.weight, beta.bias = nn.Parameter(beta_w), nn.Parameter(beta_b)
        self.mlp, folded = _merged_conv(gamma, beta, mod.param_free_norm)
        self.param_free_norm = nn.Identity() if folded else mod.param_free_norm

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        g, b = self.mlp(embedding).chunk(2, dim=1)
        return torch.addcmul(b, self.param_free_norm(x), g)


def _fuse_modulations(net: nn.Module) -> int:
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SPADE):
                setattr(parent, name, FusedSpade(child))
                count += 1
            elif isinstance(child, LabelModulation) and _eval_bn(child.param_free_norm, affine=False):
                setattr(parent, name, FusedModulation(child))
                count += 1
    return count


# ------------------------------------------------------------------------------------------ one-hot look-up


class OneHotConv(nn.Module):
    """A conv (stride 1, 'same' zero padding) whose first `onehot` input channels are a one-hot label map.

    On the CPU, for an exactly one-hot input, runs as a table look-up: row k * (L + 1) + l of the table is the
    conv's weight for label l at tap k, row k * (L + 1) + L is zero (the padding outside the picture), and
    `embedding_bag` sums the 9 rows of each pixel. Channels after the one-hot (instance edges) keep a small conv.
    Output is NHWC in memory (channels_last), which the following conv prefers. Anything else: the plain conv.
    Inside a SPADE generator, `FusedSpade` calls `lookup` with the level's indices from the shared `LabelIndex`.
    """

    def __init__(self, conv: nn.Conv2d, onehot: int, labels: LabelIndex) -> None:
        super().__init__()
        kh, kw = conv.kernel_size
        self.conv, self.onehot, self.kernel = conv, onehot, (kh, kw)
        self.labels = labels  # the generator's, filled for each forward pass by `_LabelMaps`
        w = conv.weight[:, :onehot].permute(2, 3, 1, 0).reshape(kh * kw, onehot, conv.out_channels)
        table = F.pad(w, (0, 0, 0, 1))
        if conv.bias is not None:  # every pixel's bag holds exactly one row of tap 0: the bias goes there
            table[0] += conv.bias
        table = table.reshape(kh * kw * (onehot + 1), conv.out_channels)
        self.register_buffer("table", table.contiguous(), persistent=False)
        self.register_buffer("taps", torch.arange(kh * kw) * (onehot + 1), persistent=False)
        self.rest: nn.Conv2d | None = None
        if conv.in_channels > onehot:
            self.rest = nn.Conv2d(conv.in_channels - onehot, conv.out_channels, conv.kernel_size,
                                  padding=conv.padding, bias=False)  # type: ignore[arg-type]
            self.rest.weight = nn.Parameter(conv.weight[:, onehot:], requires_grad=False)

    def forward(self, seg: Tensor) -> Tensor:
        """The conv of a whole tensor (callers outside a SPADE generator): a look-up if it is one-hot."""
        if seg.device.type == "cpu":
            index = LabelIndex(self.onehot)
            index.begin(seg)
            found = index.level((seg.shape[2], seg.shape[3]), self.kernel)
            if found is not None:
                return self.lookup(*found)
        return self.conv(seg)

    def lookup(self, index: Tensor, edges: Tensor | None) -> Tensor:
        """The conv's output from padded label indices (N x H+kh-1 x W+kw-1) and the other channels."""
        kh, kw = self.kernel
        n, h, w = index.shape[0], index.shape[1] - kh + 1, index.shape[2] - kw + 1
        bags = torch.stack([index[:, i : i + h, j : j + w] for i in range(kh) for j in range(kw)], dim=-1)
        summed = F.embedding_bag((bags + self.taps).reshape(-1, kh * kw), self.table, mode="sum")
        out = summed.view(n, h, w, -1).permute(0, 3, 1, 2)
        if self.rest is not None and edges is not None:
            out = out + self.rest(edges)
        return out


class LabelIndex:
    """One forward pass's label map as indices, resized to each SPADE level, shared by every look-up conv.

    `begin(seg)` checks once that the full-size input is one-hot and takes its argmax. A level is then the
    nearest-neighbour resize of that index map, which selects exactly the pixels that resizing the one-hot
    tensor (what `SegmapPyramid` does, 184 channels) would, at 1/184 of the memory traffic.
    """

    def __init__(self, onehot: int) -> None:
        self.onehot = onehot
        self._base: Tensor | None = None
        self._edges: Tensor | None = None
        self._levels: dict[tuple[tuple[int, int], tuple[int, int]], tuple[Tensor, Tensor | None]] = {}

    def begin(self, seg: Tensor) -> None:
        self.end()
        labels = seg[:, : self.onehot]
        if seg.device.type != "cpu":  # GPUs run the dense conv fast, and checking would sync the host
            return
        if bool(((labels == 0) | (labels == 1)).all()) and bool((labels.sum(1) == 1).all()):
            self._base = labels.argmax(1, keepdim=True).to(torch.float32)  # small integers: exact in float
            self._edges = seg[:, self.onehot :].contiguous() if seg.shape[1] > self.onehot else None

    def end(self) -> None:
        self._base, self._edges, self._levels = None, None, {}

    def level(self, size: tuple[int, int], kernel: tuple[int, int]) -> tuple[Tensor, Tensor | None] | None:
        """(label indices at `size` padded for `kernel` with the zero row `onehot`, other channels at `size`);
        None when the input was not one-hot."""
        if self._base is None:
            return None
        key = (size, kernel)
        if key not in self._levels:
            base, edges = self._base, self._edges
            if tuple(base.shape[2:]) != size:
                base = F.interpolate(base, size=size, mode="nearest")
                edges = None if edges is None else F.interpolate(edges, size=size, mode="nearest")
            kh, kw = kernel
            index = F.pad(base[:, 0].long(), (kw // 2, kw // 2, kh // 2, kh // 2), value=self.onehot)
            self._levels[key] = (index, edges)
        return self._levels[key]


class _LabelMaps(nn.Module):
    """Runs a SPADE generator with its label map's indices available to the look-up convs for that call."""

    def __init__(self, net: nn.Module, labels: LabelIndex) -> None:
        super().__init__()
        self.net, self.labels = net, labels

    def forward(self, seg: Tensor, *args: Tensor | None) -> Tensor:
        self.labels.begin(seg)
        try:
            return self.net(seg, *args)
        finally:
            self.labels.end()  # the maps can be hundreds of MB at 4096 px


def _onehot_lookups(net: nn.Module) -> LabelIndex | None:
    """Look-up convs for a SPADE generator's `mlp_shared` layers; the shared LabelIndex, or None if none."""
    if not isinstance(net, SPADEGenerator):
        return None
    c = net.config
    labels = LabelIndex(c.label_nc + int(c.contain_dontcare))
    for spade in [m for m in net.modules() if isinstance(m, FusedSpade)]:
        conv = spade.mlp_shared[0]
        if isinstance(conv, nn.Conv2d) and conv.stride == (1, 1) and conv.padding == (conv.kernel_size[0] // 2,
                                                                                        conv.kernel_size[1] // 2):
            spade.mlp_shared[0] = OneHotConv(conv, labels.onehot, labels)
    return labels


# ------------------------------------------------------------------------------------------ layout


class _ChannelsLast(nn.Module):
    """Runs the wrapped network on NHWC tensors (weights converted once) and hands NCHW back."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        for module in net.modules():
            for name, p in list(module.named_parameters(recurse=False)):
                if p.dim() == 4:  # a new tensor: the weights may be shared with the caller's plain network
                    setattr(module, name, nn.Parameter(p.contiguous(memory_format=torch.channels_last), False))
        self.net = net

    def forward(self, x: Tensor, *args: Tensor | None) -> Tensor:
        y = self.net(x.contiguous(memory_format=torch.channels_last), *args)
        return y.contiguous()
