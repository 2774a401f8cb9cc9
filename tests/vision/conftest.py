"""``image_folder(root, classes, per_class)``: writes a small folder of PNGs, one subfolder per class (the classes
differ in their red channel), plus a text file that is not an image; returns ``root``."""

import numpy as np
import pytest
from PIL import Image


def _make_folder(root, classes=("cat", "dog"), per_class=5, size=(12, 10)):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            pixels[..., 0] = 20 + 100 * c
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    (root / classes[0] / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def image_folder():
    return _make_folder
