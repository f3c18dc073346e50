"""Paired training data for the bundled label and sketch models: painted label maps and matching pictures.

`scenes` paints random landscape label maps like a person does with a round brush, `textures` cuts class
texture banks from the shared photos (hand-picked one-class rectangles, checked by `photolabel`), `compose`
renders a picture for a label map from those textures, `photomaps` turns coarse hand-painted maps of a few
real photos into refined label maps (real pairs), and `build` writes a data set folder.
"""

from paintgan.datagen.compose import compose, estimate_horizon
from paintgan.datagen.scenes import LABEL_SET, Scene, colourize, generate_scene
from paintgan.datagen.textures import SOURCES, TextureBank, TextureSource, load_bank, used_photos

# `paintgan.datagen.build` (make_pair, contact_sheet, build) is not imported here so that
# `python -m paintgan.datagen.build` runs it fresh.
__all__ = ["LABEL_SET", "SOURCES", "Scene", "TextureBank", "TextureSource", "colourize", "compose", "estimate_horizon",
           "generate_scene", "load_bank", "used_photos"]
