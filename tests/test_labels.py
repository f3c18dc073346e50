"""Label sets: tables, JSON round trip, validation, colour snapping, remapping to upstream index spaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared_paths import DATA, needs_shared
from paintgan import labels as L
from paintgan.errors import InputError, PaintGANError

EVAL_LABELS = DATA / "eval_maps" / "labels.json"


def test_public_tables_have_the_upstream_sizes_and_anchor_classes() -> None:
    ade, coco, city = L.ade20k_labelset(), L.coco_labelset(), L.cityscapes_labelset()
    assert len(ade) == 151 and ade.max_index == 150  # "other" + 150 classes
    assert ade.by_index(3).name == "sky" and ade.by_index(150).name == "flag"
    assert ade.by_index(17).name == "mountain, mount" and ade.by_index(17).short_name == "mountain"
    assert len(coco) == 182 and coco.max_index == 181
    assert coco.by_index(0).name == "person" and coco.by_index(90).name == "hair brush"
    assert coco.by_index(91).name == "banner" and coco.by_index(156).name == "sky-other"
    assert coco.by_name("sea").colour == (54, 62, 167)  # SPADE's demo colour
    assert len(city) == 35 and city.by_index(7).name == "road" and city.by_index(34).name == "license plate"
    assert city.by_name("road").colour == (128, 64, 128)
    assert ade.by_index(1).colour == (120, 120, 120)


@pytest.mark.parametrize("make", [L.ade20k_labelset, L.coco_labelset, L.cityscapes_labelset,
                                  L.landscape_labelset, lambda: L.numbered_labelset(300)])
def test_every_palette_is_unique_so_colour_maps_snap_back_exactly(make) -> None:
    ls = make()
    colours = [label.colour for label in ls]
    assert len(set(colours)) == len(colours)
    idx = np.array([sorted(ls.indices)], dtype=np.int64)
    snapped, moved = L.snap_colours(ls.palette()[idx], ls)
    assert moved == 0 and np.array_equal(snapped, idx)


@needs_shared(EVAL_LABELS)
def test_landscape_set_matches_the_eval_maps_exactly() -> None:
    ref = json.loads(EVAL_LABELS.read_text())
    ls = L.landscape_labelset()
    assert [(x.index, x.name, list(x.colour)) for x in ls] == [(d["index"], d["name"], d["colour"]) for d in ref]
    # the bare-list file reads as a label set too
    assert [x.colour for x in L.read_labelset(EVAL_LABELS)] == [x.colour for x in ls]


def test_landscape_classes_point_at_sensible_upstream_classes() -> None:
    ls, ade, coco = L.landscape_labelset(), L.ade20k_labelset(), L.coco_labelset()
    expect = {"sky": ("sky", "sky-other"), "cloud": ("sky", "clouds"), "mountain": ("mountain, mount", "mountain"),
              "rock": ("rock, stone", "rock"), "water": ("water", "sea"), "grass": ("grass", "grass"),
              "tree": ("tree", "tree"), "sand": ("sand", "sand"), "snow": ("mountain, mount", "snow"),
              "dirt": ("earth, ground", "dirt")}
    for name, (ade_name, coco_name) in expect.items():
        label = ls.by_name(name)
        assert ade.by_index(label.ade20k).name == ade_name
        assert coco.by_index(label.coco).name == coco_name


def test_json_round_trip_keeps_everything() -> None:
    for ls in (L.landscape_labelset(), L.ade20k_labelset()):
        again = L.LabelSet.from_json(ls.to_json())
        assert again == ls
        assert L.LabelSet.from_dict(json.loads(json.dumps(ls.to_dict()))) == ls


@pytest.mark.parametrize("data, words", [
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": [1, 2, 3]},
                              {"index": 0, "name": "b", "colour": [4, 5, 6]}]}, "index 0 is used by both"),
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": [1, 2, 3]},
                              {"index": 1, "name": "a", "colour": [4, 5, 6]}]}, "two labels are named 'a'"),
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": [1, 2, 3]},
                              {"index": 1, "name": "b", "colour": [1, 2, 3]}]}, "share colour"),
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": [1, 2, 300]}]}, "0..255"),
    ({"name": "x", "labels": [{"index": "0", "name": "a", "colour": [1, 2, 3]}]}, "integer 'index'"),
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": "red"}]}, "three integers"),
    ({"name": "x", "labels": [{"index": 0, "name": "a", "colour": [1, 2, 3], "coco": 500}]}, "COCO-Stuff"),
    ({"name": "x", "labels": []}, "has no labels"),
    ({"labels": "nope"}, '"name": str'),
])
def test_a_bad_label_set_is_one_line_saying_what_is_wrong(data, words) -> None:
    with pytest.raises(InputError) as err:
        L.LabelSet.from_dict(data)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_unreadable_label_file_is_an_input_error(tmp_path) -> None:
    bad = tmp_path / "set.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="set.json"):
        L.read_labelset(bad)
    with pytest.raises(InputError, match="cannot read"):
        L.read_labelset(tmp_path / "missing.json")


def test_snap_colours_picks_the_nearest_and_counts_moved_pixels() -> None:
    ls = L.landscape_labelset()
    rgb = np.array([[[120, 170, 235], [118, 172, 230], [31, 91, 41], [0, 0, 0]]], dtype=np.uint8)
    idx, moved = L.snap_colours(rgb, ls)
    assert idx.tolist() == [[0, 0, 7, 7]]  # black is nearest to the dark tree green
    assert idx.dtype == np.uint8 and moved == 3


def test_snap_colours_recovers_a_jpeg_like_map() -> None:
    ls = L.landscape_labelset()
    rng = np.random.default_rng(0)
    truth = np.repeat(np.repeat(rng.integers(0, 10, (8, 8)), 32, 0), 32, 1).astype(np.uint8)
    # +-4 per channel stays nearer the true colour than any other (snow and cloud are 23 apart)
    noisy = np.clip(ls.palette()[truth].astype(int) + rng.integers(-4, 5, (256, 256, 3)), 0, 255)
    idx, moved = L.snap_colours(noisy.astype(np.uint8), ls)
    assert np.array_equal(idx, truth)
    assert moved > 0.9 * truth.size


def test_snap_colours_refuses_non_rgb() -> None:
    with pytest.raises(InputError, match="HxWx3"):
        L.snap_colours(np.zeros((4, 4), np.uint8), L.landscape_labelset())


def test_check_indices_names_the_bad_values_and_the_valid_range() -> None:
    ls = L.landscape_labelset()
    L.check_indices(np.arange(10, dtype=np.uint8).reshape(2, 5), ls)
    with pytest.raises(InputError) as err:
        L.check_indices(np.array([[0, 12, 255, 9]], dtype=np.uint8), ls)
    msg = str(err.value)
    assert "12, 255" in msg and "0..9" in msg and "landscape" in msg
    with pytest.raises(InputError, match="-3"):
        L.check_indices(np.array([-3, 70000]), ls)
    with pytest.raises(InputError, match="integer"):
        L.check_indices(np.zeros((2, 2), np.float32), ls)
    L.check_indices(np.array([0, 255], np.uint8), ls, extra=(255,))


def test_landscape_painting_maps_into_ade20k_and_coco_index_spaces() -> None:
    ls = L.landscape_labelset()
    idx = np.arange(10, dtype=np.uint8).reshape(2, 5)
    ade = L.to_ade20k(idx, ls)
    coco = L.to_coco(idx, ls)
    ade_set, coco_set = L.ade20k_labelset(), L.coco_labelset()
    assert [ade_set.by_index(int(v)).short_name for v in ade.ravel()] == [
        "sky", "sky", "mountain", "rock", "mountain", "water", "grass", "tree", "sand", "earth"]
    assert [coco_set.by_index(int(v)).name for v in coco.ravel()] == [
        "sky-other", "clouds", "mountain", "rock", "snow", "sea", "grass", "tree", "sand", "dirt"]
    assert ade.dtype == np.uint8 and coco.dtype == np.uint8


def test_remap_by_name_refuses_unmatched_classes_unless_a_fill_is_given() -> None:
    ls, ade = L.landscape_labelset(), L.ade20k_labelset()
    only_known = np.array([[0, 2, 7]], np.uint8)
    assert L.remap(only_known, ls, ade, via="name").tolist() == [[3, 17, 5]]
    with pytest.raises(PaintGANError, match="'cloud'"):
        L.remap(np.array([[0, 1]], np.uint8), ls, ade, via="name")
    assert L.remap(np.array([[0, 1]], np.uint8), ls, ade, via="name", fill=255).tolist() == [[3, 255]]


def test_coco_stuff_unlabelled_pixels_go_to_fill_on_import() -> None:
    coco, ls = L.coco_labelset(), L.landscape_labelset()
    raw = np.array([[156, 255, 168, 0]], np.uint8)  # sky-other, unlabelled, tree, person
    with pytest.raises(InputError, match="255"):
        L.remap(raw, coco, ls, via="coco")
    assert L.remap(raw, coco, ls, via="coco", fill=6).tolist() == [[0, 6, 7, 6]]


def test_remap_back_from_ade20k_picks_the_first_matching_class() -> None:
    ls, ade = L.landscape_labelset(), L.ade20k_labelset()
    back = L.remap(np.array([[3, 17, 22]], np.uint8), ade, ls, via="ade20k")
    assert back.tolist() == [[0, 2, 5]]  # sky (not cloud), mountain (not snow), water


def test_numbered_labelset_names_each_class() -> None:
    ls = L.numbered_labelset(3)
    assert [x.name for x in ls] == ["class 0", "class 1", "class 2"] and ls.max_index == 2
    with pytest.raises(InputError):
        L.numbered_labelset(0)


def test_colourize_paints_palette_colours() -> None:
    ls = L.landscape_labelset()
    rgb = L.colourize(np.array([[0, 5]], np.uint8), ls)
    assert rgb.tolist() == [[[120, 170, 235], [40, 90, 170]]]
