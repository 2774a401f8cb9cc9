import numpy as np
import pytest
import torch
from PIL import Image

from archlab.errors import UserError
from archlab.vision.augment import AugmentConfig, augment_images
from archlab.vision.folder import load_image, read_image_folder, split_folder


def test_a_folder_becomes_resized_labelled_images(tmp_path, image_folder):
    root = image_folder(tmp_path / "pets")
    folder = read_image_folder(root, image_size=8, channels=3)
    assert folder.classes == ["cat", "dog"]
    assert folder.images.shape == (10, 3, 8, 8) and folder.labels.tolist() == [0] * 5 + [1] * 5
    assert 0 <= folder.images.min() and folder.images.max() <= 1
    red = folder.images[:, 0].mean(dim=(1, 2))
    assert red[:5].max() < red[5:].min()
    grey = read_image_folder(root, image_size=6, channels=1)
    assert grey.images.shape == (10, 1, 6, 6)
    data = split_folder(folder, test_fraction=0.2, seed=0)
    assert data.test_labels.tolist().count(0) == 1 and data.test_labels.tolist().count(1) == 1
    assert data.train_images.shape == (8, 3, 8, 8)


def test_load_image_reads_what_pillow_wrote(tmp_path):
    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png", image_size=4, channels=3)
    torch.testing.assert_close(img, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_a_corrupt_image_is_named_unless_skipped(tmp_path, image_folder):
    root = image_folder(tmp_path / "pets")
    bad = root / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match=r"cannot read image .*broken\.png.*--skip-bad"):
        read_image_folder(root, image_size=8)
    folder = read_image_folder(root, image_size=8, skip_bad=True)
    assert folder.skipped == [bad] and folder.images.shape[0] == 10


def test_empty_folders_are_clear_errors(tmp_path, image_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is empty: it needs one subfolder of images per class"):
        read_image_folder(tmp_path / "empty", image_size=8)
    with pytest.raises(UserError, match="does not exist"):
        read_image_folder(tmp_path / "missing", image_size=8)
    root = image_folder(tmp_path / "pets")
    (root / "bird").mkdir()
    with pytest.raises(UserError, match=r"class folder .*bird holds no images"):
        read_image_folder(root, image_size=8)


def test_augmentations_off_are_the_identity_and_each_does_its_job():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    images = torch.rand(4, 1, 8, 8)
    off = AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0.0, max_shift=0)
    torch.testing.assert_close(augment_images(images, off, g()), images, atol=1e-6, rtol=0)
    flip = AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=1.0, max_shift=0)
    torch.testing.assert_close(augment_images(images, flip, g()), images.flip(-1), atol=1e-6, rtol=0)
    shifted = augment_images(images, AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0, max_shift=2),
                             g())
    assert not torch.allclose(shifted, images)
    a = augment_images(images, AugmentConfig(), g())
    torch.testing.assert_close(a, augment_images(images, AugmentConfig(), g()))  # a function of the generator
    assert a.shape == images.shape


def test_a_translation_moves_whole_pixels_without_blurring():
    image = torch.zeros(64, 1, 8, 8)
    image[:, 0, 4, 4] = 1.0
    cfg = AugmentConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0.0, max_shift=2)
    out = augment_images(image, cfg, torch.Generator().manual_seed(3))
    flat = out.flatten(1)
    torch.testing.assert_close(flat.max(1).values, torch.ones(64), atol=1e-5, rtol=0)  # the dot stays one pixel
    rows, cols = flat.argmax(1) // 8, flat.argmax(1) % 8
    assert set((rows - 4).tolist()) == set((cols - 4).tolist()) == {-2, -1, 0, 1, 2}


def test_augment_config_is_validated():
    with pytest.raises(ValueError, match="crop_scale"):
        AugmentConfig(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="flip_p=2"):
        AugmentConfig(flip_p=2)
    with pytest.raises(ValueError, match="max_shift=1.5"):
        AugmentConfig(max_shift=1.5)
