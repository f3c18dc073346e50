"""Training options: the family's paper settings, a TOML file and the command line combine in that order, and the
run folder's recorded config reads back as the same options."""

from __future__ import annotations

from pathlib import Path

import pytest

from paintgan.cli import build_parser
from paintgan.train.config import ConfigError, parse_model_options, read_toml, resolve_config, to_toml

BASE = {"data": "d", "out": "o"}


def test_family_presets_follow_the_papers() -> None:
    spade = resolve_config({"family": "spade", **BASE})
    assert (spade.gan_mode, spade.lr_g, spade.lr_d, spade.beta1, spade.d_scales) == ("hinge", 1e-4, 4e-4, 0.0, 2)
    assert spade.lambda_fm == 10 and spade.lambda_perceptual == 10 and spade.spectral_norm
    pix = resolve_config({"family": "pix2pix", **BASE})
    assert (pix.gan_mode, pix.lambda_l1, pix.d_norm) == ("vanilla", 100.0, "batch")
    cyc = resolve_config({"family": "cyclegan", **BASE})
    assert (cyc.gan_mode, cyc.lambda_cycle, cyc.lambda_identity, cyc.d_norm) == ("lsgan", 10.0, 0.5, "instance")
    light = resolve_config({"family": "light_spade", **BASE})
    assert light.gan_mode == "hinge" and not light.g_spectral_norm


def test_toml_overrides_preset_and_cli_overrides_toml(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('family = "spade"\ngan-mode = "lsgan"\nsteps = 50\n[model]\nngf = 16\n')
    c = resolve_config({"steps": 7, "model": {"num_upsampling_layers": "more"}, **BASE}, toml)
    assert c.family == "spade" and c.gan_mode == "lsgan" and c.steps == 7 and c.lr_d == 4e-4
    assert c.model == {"ngf": 16, "num_upsampling_layers": "more"}


def test_recorded_config_round_trips(tmp_path: Path) -> None:
    c = resolve_config({"family": "pix2pix", "description": 'quotes " and \\ kept', "model": {"ngf": 8}, **BASE})
    path = tmp_path / "config.toml"
    path.write_text(to_toml(c))
    assert resolve_config({}, path) == c
    assert read_toml(path)["model"] == {"ngf": 8}


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown training option 'stepz'"):
        resolve_config({"family": "pix2pix", "stepz": 3, **BASE})
    with pytest.raises(ConfigError, match="gan_mode must be one of"):
        resolve_config({"family": "pix2pix", "gan_mode": "wasserstein", **BASE})
    with pytest.raises(ConfigError, match="size must be a multiple of 4"):
        resolve_config({"family": "pix2pix", "size": 30, **BASE})
    with pytest.raises(ConfigError, match="no data folder"):
        resolve_config({"family": "pix2pix", "out": "o"})
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(BASE, bad)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_model_options(["ngf"])


def test_every_option_is_on_the_command_line() -> None:
    args = build_parser().parse_args(
        ["train", "--family", "spade", "--data", "d", "--out", "o", "--lambda-fm", "3", "--no-flip",
         "--model-option", "ngf=8", "--model-option", "use_vae=true"]
    )
    assert args.lambda_fm == 3.0 and args.flip is False and args.steps is None
    assert parse_model_options(args.model_options) == {"ngf": 8, "use_vae": True}
