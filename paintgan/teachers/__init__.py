"""Teachers for distillation: slow or foreign models whose outputs a PaintGAN student learns to reproduce.

A teacher is a callable that maps an RGB batch to a stylized batch of the same size: a float torch tensor
N x 3 x H x W in [-1, 1] gives the same back (the generator convention), a uint8 numpy array H x W x 3 or
N x H x W x 3 gives uint8 back. `paintgan train --teacher paintgan.teachers.magenta:monet` names a
zero-argument factory that returns such a callable.

Teacher packages are optional (`pip install 'paintgan[teacher]'`): importing this package needs none of them;
building a teacher without them raises `TeacherError` with the install line.
"""

from __future__ import annotations

from paintgan.errors import PaintGANError


class TeacherError(PaintGANError):
    """A teacher that cannot be built: its package is missing, or its style images cannot be used."""
