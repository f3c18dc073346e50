"""Paired training data for the bundled label and sketch models: painted label maps and matching pictures.

`scenes` paints random landscape label maps like a person does with a round brush, `textures` cuts class
texture banks from the shared photos (hand-picked one-class rectangles, checked by `photolabel`), `compose`
renders a picture for a label map from those textures, and `build` writes a data set folder.
"""

from paintgan.datagen.build import Pair, build, contact_sheet, make_pair
from paintgan.datagen.compose import compose, estimate_horizon
from paintgan.datagen.scenes import LABEL_SET, Scene, colourize, generate_scene
from paintgan.datagen.textures import SOURCES, TextureBank, TextureSource, load_bank, used_photos

__all__ = ["LABEL_SET", "Pair", "SOURCES", "Scene", "TextureBank", "TextureSource", "build", "colourize", "compose",
           "contact_sheet", "estimate_horizon", "generate_scene", "load_bank", "make_pair", "used_photos"]
