import json

import pytest

from archlab.cli import main
from archlab.vision.task import confusion_matrix


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    import torch

    m = confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 0, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize("arch", ["lenet", "resnet", "convnext", "vit"])
def test_train_classify_on_digits_writes_accuracy_and_a_confusion_matrix(arch, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "classify", "--arch", arch, "--steps", "3", "--quiet", "--out", str(out),
                 "--set", "train.batch_size=8"]) == 0
    evaluation = json.loads((out / "final" / "evaluation.json").read_text())
    assert 0 <= evaluation["test_accuracy"] <= 1 and evaluation["test_images"] == 359
    assert len(evaluation["confusion_matrix"]) == 10
    assert (out / "final" / "confusion.png").stat().st_size > 0


def test_train_on_a_folder_then_predict_the_top_classes(tmp_path, capsys, image_folder):
    root = image_folder(tmp_path / "pets", classes=("cat", "dog", "owl"))
    out = tmp_path / "run"
    assert main(["train", "classify", "--arch", "resnet", "--data", str(root), "--image-size", "8", "--augment",
                 "standard", "--steps", "2", "--quiet", "--out", str(out), "--set", "train.batch_size=4"]) == 0
    capsys.readouterr()
    assert main(["predict", "classify", "--ckpt", str(out), str(root / "cat" / "0.png"),
                 str(root / "owl" / "1.png"), "--top", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("0.png") and len(lines) == 2 * (1 + 3)  # 3 classes: top-5 shows all 3
    assert {line.split()[1] for line in lines[1:4]} == {"cat", "dog", "owl"}


def test_predict_prints_the_top_5_digits_and_classify_offers_no_sampler(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from archlab.train.recipe import predictors, samplers

    assert "classify" in predictors() and "classify" not in samplers()  # a classifier predicts, it does not sample
    out = tmp_path / "run"
    assert main(["train", "classify", "--arch", "lenet", "--steps", "2", "--quiet", "--out", str(out),
                 "--set", "train.batch_size=8"]) == 0
    image = tmp_path / "seven.png"
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(image)
    capsys.readouterr()
    assert main(["predict", "classify", "--ckpt", str(out), str(image)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(image) and len(lines) == 1 + 5  # ten digit classes: the default shows the top 5
    probabilities = [float(line.split()[-1]) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert {line.split()[1] for line in lines[1:]} <= {str(d) for d in range(10)}
    assert main(["predict", "--ckpt", str(out), str(image)]) == 0  # the spelling: target from the ckpt
    assert capsys.readouterr().out.strip().splitlines() == lines
    assert main(["predict", str(image), f"--ckpt={out / 'final'}", "--top", "2"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == lines[:3]


def test_predict_without_a_target_names_bad_input_in_one_line(tmp_path, capsys):
    image = tmp_path / "x.png"
    assert main(["predict", "--ckpt", str(tmp_path / "nowhere"), str(image)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archlab: error: --ckpt") and "does not exist" in err and err.count("\n") == 1
    out = tmp_path / "run"
    assert main(["train", "classify", "--arch", "lenet", "--steps", "1", "--quiet", "--out", str(out),
                 "--set", "train.batch_size=8"]) == 0
    image.write_bytes(b"not a png")
    capsys.readouterr()
    assert main(["predict", "--ckpt", str(out), str(image)]) == 2
    err = capsys.readouterr().err
    assert "cannot read image" in err and str(image) in err and err.count("\n") == 1

    other = tmp_path / "other"  # a saved model of no family: the target cannot be inferred, and the error says so
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"archlab_class": "mypackage.nets:Net", "config": {}}))
    assert main(["predict", "--ckpt", str(other), str(image)]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the predict target" in err and "classify" in err and err.count("\n") == 1


def test_bad_input_is_a_one_line_error(tmp_path, capsys, image_folder):
    assert main(["train", "classify", "--data", str(tmp_path / "nowhere"), "--steps", "1"]) == 2
    assert "neither 'digits' nor an existing folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "classify", "--data", str(tmp_path / "empty"), "--steps", "1", "--quiet",
                 "--out", str(tmp_path / "r")]) == 2
    assert "is empty" in capsys.readouterr().err
    root = image_folder(tmp_path / "pets")
    (root / "dog" / "bad.png").write_bytes(b"junk")
    assert main(["train", "classify", "--data", str(root), "--steps", "1", "--quiet", "--out",
                 str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and "--skip-bad" in err
    assert main(["train", "classify", "--data", str(root), "--skip-bad", "--image-size", "8", "--steps", "1",
                 "--quiet", "--out", str(tmp_path / "r3"), "--set", "train.batch_size=4"]) == 0
    assert main(["predict", "classify", "--ckpt", str(tmp_path / "r3"), str(tmp_path / "missing.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err
