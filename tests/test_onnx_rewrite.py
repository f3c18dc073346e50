"""The ONNX graph rewrites (Winograd 3x3 convs, narrow output convs on 2x2 blocks) compute the plain graph's
picture: on random weights, at sizes that are and are not whole tiles, and for a whole family once exported."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from paintgan.families import get_family
from paintgan.families.cyclegan import ResnetConfig
from paintgan.models import Model, synthesise_card
from paintgan.onnx_rewrite import MIN_CHANNELS, rewrite, transforms

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Float rounding of the transforms: about 1e-5 of the output's scale; the export's own bar is 1e-3.
EXACT = 1e-4
SIZES = [(32, 32), (13, 37), (70, 6)]  # whole 4x4 tiles, and ragged edges both ways


def graph(net: nn.Module, channels: int) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.randn(1, channels, 32, 32),), buffer, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}})
    return onnx.load_from_string(buffer.getvalue())


def run(proto: onnx.ModelProto, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x.numpy()})[0])


def assert_same_as_torch(net: nn.Module, channels: int, expected: dict[str, int], min_channels: int = 1) -> None:
    torch.manual_seed(1)
    proto = graph(net, channels)
    assert rewrite(proto, {"x": np.zeros((1, channels, 32, 32), np.float32)}, min_channels=min_channels) == expected
    for h, w in SIZES:
        x = torch.randn(1, channels, h, w)
        with torch.no_grad():
            want = net(x).numpy()
        got = run(proto, x)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= EXACT * max(1.0, float(np.abs(want).max()))


def test_winograd_1d_transforms_compute_a_correlation() -> None:
    at, g, bt = transforms()
    rng = np.random.default_rng(0)
    for _ in range(5):
        d, w = rng.normal(size=bt.shape[0]), rng.normal(size=3)
        assert np.allclose(at @ ((g @ w) * (bt @ d)), np.correlate(d, w, "valid"), atol=1e-12)
    assert at.shape == (4, 6) and np.array_equal(bt, np.round(bt))  # F(4, 3): integer input transform


@pytest.mark.parametrize("pad, bias", [(0, True), (1, False)])
def test_winograd_conv_equals_the_conv(pad: int, bias: bool) -> None:
    torch.manual_seed(0)
    # ResNet block shape: reflection pad, conv, instance norm (which needs the channel count through the rewrite)
    net = nn.Sequential(nn.ReflectionPad2d(1 - pad), nn.Conv2d(8, 6, 3, padding=pad, bias=bias),
                        nn.InstanceNorm2d(6), nn.ReLU())
    assert_same_as_torch(net, 8, {"winograd": 1})


def test_narrow_convs_on_blocks_equal_the_conv() -> None:
    torch.manual_seed(0)
    rgb_out = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(8, 3, 7), nn.Tanh())  # CycleGAN's last layer
    assert_same_as_torch(rgb_out, 8, {"blocked": 1})
    odd = nn.Sequential(nn.Conv2d(5, 2, (3, 5), padding=(1, 2), bias=False), nn.Conv2d(2, 4, 4, padding=(2, 1)))
    assert_same_as_torch(odd, 5, {"blocked": 2})


def test_convs_that_would_not_gain_are_left_alone() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2), nn.Conv2d(8, 3, 1),
                        nn.Conv2d(3, 8, 3, dilation=2))
    proto = graph(net, 8)
    before = proto.SerializeToString()
    probe = {"x": np.zeros((1, 8, 32, 32), np.float32)}
    assert rewrite(proto, probe) == {}  # 8 channels: under MIN_CHANNELS; strided, 1x1 and dilated convs: never
    assert proto.SerializeToString() == before


def test_winograd_needs_enough_tiles_for_its_matrix_products() -> None:
    torch.manual_seed(0)
    # A 256-channel conv after three stride-2 convs: 32x32 px in a 256 px frame, 64 tiles of 4x4: left as it is
    net = nn.Sequential(*[nn.Conv2d(c, 256, 3, stride=2, padding=1) for c in (8, 256, 256)],
                        nn.Conv2d(256, 256, 3, padding=1))
    probe = {"x": np.zeros((1, 8, 64, 64), np.float32)}
    assert rewrite(graph(net, 8), probe) == {}
    assert rewrite(graph(net[3:], 256), {"x": np.zeros((1, 256, 16, 16), np.float32)}) == {"winograd": 1}
    assert rewrite(graph(net[3:], 256)) == {}  # sizes unknown: no Winograd


def test_a_cyclegan_exports_rewritten_with_its_weights_once() -> None:
    """Winograd for the 256-channel blocks (ngf 64), phases for the up convs, blocks for the RGB output; torch's
    picture at a ragged size;
    the file holds the 3x3 weights, not their 4x larger transform."""
    from paintgan.onnx_export import export_graph

    config = ResnetConfig(ngf=MIN_CHANNELS // 4, n_blocks=1)
    family = get_family("cyclegan")
    torch.manual_seed(0)
    model = Model(synthesise_card(family, config, name="tiny-cyclegan"), family.build(config).eval())
    plain = graph(model.generator, 3)
    exported = onnx.load_from_string(export_graph(model))
    ops = [n.op_type for n in exported.graph.node]
    # 2 Winograd convs, 2 transposed convs as phases, 1 blocked output conv
    assert ops.count("DepthToSpace") == 2 + 2 + 1 and ops.count("SpaceToDepth") == 1
    assert "ConvTranspose" not in ops

    def weight_bytes(p: onnx.ModelProto) -> int:
        return sum(len(i.raw_data) for i in p.graph.initializer)

    assert weight_bytes(exported) <= weight_bytes(plain) * 1.05
    x = torch.rand(1, 3, 68, 76) * 2 - 1
    with torch.no_grad():
        want = model.generator(x).numpy()
    assert np.abs(run(exported, x) - want).max() <= 1e-3


@pytest.mark.parametrize("kernel, padding, output_padding", [(3, 1, 1), (4, 1, 0), (3, 0, 0), (5, 2, 1)])
def test_transposed_convs_as_phase_convs_equal_the_transposed_conv(kernel: int, padding: int,
                                                                   output_padding: int) -> None:
    torch.manual_seed(0)  # (3, 1, 1): CycleGAN's up convs; (4, 1, 0): pix2pix's; the others: ragged last blocks
    net = nn.Sequential(nn.ConvTranspose2d(6, 5, kernel, stride=2, padding=padding, output_padding=output_padding),
                        nn.InstanceNorm2d(5))
    assert_same_as_torch(net, 6, {"sub-pixel": 1})
    # An RGB output (pix2pix's last layer): every phase in one conv over the union of their taps
    rgb = nn.Sequential(nn.ConvTranspose2d(6, 3, kernel, stride=2, padding=padding, output_padding=output_padding),
                        nn.Tanh())
    assert_same_as_torch(rgb, 6, {"sub-pixel": 1})


def test_a_bias_before_an_instance_norm_is_dropped_and_kept_elsewhere() -> None:
    torch.manual_seed(0)
    probe = {"x": np.zeros((1, 8, 32, 32), np.float32)}
    normed = graph(nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.InstanceNorm2d(6)), 8)
    conv_out = next(n.output[0] for n in normed.graph.node if n.op_type == "Conv")
    rewrite(normed, probe, min_channels=1)
    last = next(n for n in normed.graph.node if conv_out in n.output)
    assert last.op_type == "Slice"  # the crop to size ends the conv: no bias Add, the norm subtracts it again
    assert_same_as_torch(nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.InstanceNorm2d(6)), 8, {"winograd": 1})
    assert_same_as_torch(nn.Sequential(nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(), nn.InstanceNorm2d(6)), 8,
                         {"winograd": 1})
