"""Errors a user can act on.

Each message is one line that says what was wrong and what was expected, so the CLI can print it as-is
(exit code 2) and the app can show it in a message box.
"""


class PaintGANError(Exception):
    """A problem with the user's input, files or settings (not a bug in PaintGAN)."""


class CheckpointError(PaintGANError):
    """A model file that cannot be read, is unsafe, or has a layout PaintGAN does not know."""


class InputError(PaintGANError):
    """An input picture, label map or sketch that cannot be used as given."""


class DocumentError(PaintGANError):
    """A `.paintgan` document that is broken, foreign or unsafe."""


class DataError(PaintGANError):
    """A training data folder that cannot be used as given."""


class OutputError(PaintGANError):
    """An output path that cannot be written."""
