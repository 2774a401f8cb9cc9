import json
import subprocess
import sys

import pytest

import archlab
from archlab.cli import main
from archlab.lab.testing import DEMO_FAMILIES, isolated_registry, register_demo_claims


@pytest.fixture
def demo_registry():
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        yield


def assert_one_line_error(stderr: str, *fragments: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("archlab") and "error:" in lines[0]
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_list(demo_registry, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "demo.noise-mean" in out and "extra.constant" in out
    assert main(["list", "--family", "extra"]) == 0
    out = capsys.readouterr().out
    assert "extra.constant" in out and "demo.fails" not in out


def test_run_prints_metrics_and_verdict_and_saves(demo_registry, capsys, tmp_path):
    assert main(["run", "demo.noise-mean", "--seed", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "abs_mean" in out and "|mean| < 0.2" in out and "verdict: holds" in out
    assert (tmp_path / "demo.noise-mean.png").is_file()
    assert json.loads((tmp_path / "demo.noise-mean.json").read_text())["seed"] == 2
    assert main(["run", "demo.fails", "--out", str(tmp_path)]) == 0  # a verdict is not an error
    out = capsys.readouterr().out
    assert "verdict: does not hold" in out
    assert "nobody [i]in particular[/i]" in out  # claim text is shown as written, not as rich markup


def test_atlas_progress_table_and_files(demo_registry, capsys, tmp_path):
    assert main(["atlas", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for i, claim_id in enumerate(["demo.fails", "demo.noise-mean", "demo.raises", "extra.constant"], start=1):
        assert f"[{i}/4] {claim_id}" in out
    assert "2 / 4 claims hold" in out and "RuntimeError: boom" in out
    assert "claim time 0.0 / 20 min budget" in out
    assert {"index.html", "demo.html", "extra.html", "results.json"} <= {p.name for p in tmp_path.iterdir()}
    assert main(["atlas", "--only", "extra,demo", "--claims", "demo.fails", "--out", str(tmp_path)]) == 0
    assert "[4/4] extra.constant" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["run", "nosuch.claim"], ["unknown claim id 'nosuch.claim'", "demo.noise-mean"]),
        (["atlas", "--only", "nosuchfamily"], ["family='nosuchfamily'", "demo, extra"]),
        (["atlas", "--only", "extra,nosuchfamily"], ["family='nosuchfamily'"]),
        (["atlas", "--claims", "demo.nosuch"], ["unknown claim id 'demo.nosuch'", "demo.noise-mean"]),
        (["list", "--family", "nosuchfamily"], ["family='nosuchfamily'"]),
        (["bench", "nosuch"], ["unknown benchmark 'nosuch'", "lm-train"]),
    ],
)
def test_user_errors_are_one_line_and_exit_2(demo_registry, capsys, tmp_path, argv, fragments):
    assert main(argv + (["--out", str(tmp_path)] if argv[0] == "atlas" else [])) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, *fragments)
    assert list(tmp_path.iterdir()) == []


def test_run_at_several_seeds_prints_each_seed_and_the_verdict_over_them(demo_registry, capsys, tmp_path):
    assert main(["run", "demo.noise-mean", "--seeds", "0,1,2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "(quick scale, seeds 0, 1, 2)" in out
    assert "seed 0" in out and "seed 1" in out and "seed 2" in out
    assert "verdict: holds; rule held at 3 / 3 seeds (needs 3)" in out
    record = json.loads((tmp_path / "demo.noise-mean.json").read_text())
    assert record["seeds"] == [0, 1, 2] and [run["seed"] for run in record["runs"]] == [0, 1, 2]
    for seed in (0, 1, 2):
        assert f"{tmp_path}/demo.noise-mean.seed{seed}.png" in out.replace("\n", "")  # rich wraps long lines
        assert (tmp_path / f"demo.noise-mean.seed{seed}.png").is_file()
    assert main(["run", "demo.raises", "--seeds", "3,4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "verdict: error; rule held at 0 / 2 seeds (needs 2)" in out
    assert "seed 3: RuntimeError: boom; seed 4: RuntimeError: boom" in out


def test_run_with_one_seed_is_as_before(demo_registry, capsys, tmp_path):
    assert main(["run", "demo.noise-mean", "--seeds", "5", "--out", str(tmp_path)]) == 0
    assert "verdict: holds; rule held at 1 / 1 seed (needs 1)" in capsys.readouterr().out
    assert json.loads((tmp_path / "demo.noise-mean.json").read_text())["seed"] == 5
    assert main(["run", "demo.noise-mean", "--out", str(tmp_path)]) == 0  # neither option: seed 0
    assert json.loads((tmp_path / "demo.noise-mean.json").read_text())["seed"] == 0


def test_atlas_at_several_seeds(demo_registry, capsys, tmp_path):
    assert main(["atlas", "--seeds", "0,1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[2/4] demo.noise-mean" in out and "rule held at 2 / 2 seeds (needs 2)" in out
    assert "2 / 4 claims hold" in out
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["seeds"] == [0, 1]
    assert all([run["seed"] for run in entry["runs"]] == [0, 1] for entry in data["claims"])
    assert "2 seeds (0, 1)" in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("command", ["run demo.fails", "atlas"])
@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--seeds", "0,x"], "argument --seeds: '0,x' must be comma-separated ints, e.g. 0,1,2"),
        (["--seeds", ""], "argument --seeds: '' must be comma-separated ints"),
        (["--seeds", "1,2,1"], "argument --seeds: seeds=[1, 2, 1] must not repeat a seed"),
        (["--seed", "0", "--seeds", "0,1"], "argument --seeds: not allowed with argument --seed"),
        (["--seeds", "0,1", "--seed", "3"], "argument --seed: not allowed with argument --seeds"),
    ],
)
def test_bad_seed_options_exit_2_with_one_line(demo_registry, capsys, tmp_path, command, options, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(command.split() + options + ["--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, fragment)
    assert list(tmp_path.iterdir()) == []


def test_unavailable_cuda_is_a_user_error(capsys, monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "lm-train", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert_one_line_error(capsys.readouterr().err, "device='cuda' is not available")


@pytest.mark.parametrize(
    "argv", [["run", "demo.fails", "--scale", "big"], ["atlas", "--scale", "big"], ["bench", "--device", "tpu"]]
)
def test_bad_option_values_exit_2_with_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "invalid choice")


def test_bench_tiny_writes_json(capsys, tmp_path):
    pytest.importorskip("transformers")
    assert main(["bench", "lm-train", "--size", "tiny", "--repeats", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lm-train" in out and "speedup" in out
    assert json.loads((tmp_path / "lm-train.json").read_text())["name"] == "lm-train"


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "archlab", *args], capture_output=True, text=True, timeout=300)


def test_python_dash_m_version_and_errors_in_a_real_process():
    done = run_module("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"archlab {archlab.__version__}"

    done = run_module("run", "nosuch.claim")  # the real registry: imports every family's claims, runs none
    assert done.returncode == 2
    assert_one_line_error(done.stderr, "unknown claim id 'nosuch.claim'")
    assert done.stdout == ""


# -- the train and sample targets are discovered only when a command line uses them ---------------------

IMPORTS_TORCH = """
import sys
from archlab.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print('torch' in sys.modules)
"""


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["list", "--help"], ["train", "--help"]])
def test_only_train_and_sample_import_the_families_and_torch_to_parse(argv):
    done = subprocess.run([sys.executable, "-c", IMPORTS_TORCH, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(argv[0] == "train")


def test_a_broken_familys_recipes_break_only_train(demo_registry, fake_families, capsys):
    fake_families({"brokenfamily": {"recipes": "raise RuntimeError('broken recipes')\n"}})
    assert main(["list"]) == 0
    assert "demo.noise-mean" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="broken recipes"):
        main(["train", "--help"])


# -- training targets by convention: a family's recipes.py is all it takes ------------------------------

TOY_RECIPES = '''
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from archlab.core.io import PretrainedMixin
from archlab.errors import UserError
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.task import Task


@dataclass
class ScaleConfig:
    width: int = 2


class Scale(PretrainedMixin, nn.Module):
    config_class = ScaleConfig

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.weight = nn.Parameter(torch.zeros(config.width))


class ScaleTask(Task):
    def __init__(self, model):
        self.model = model

    def train_batch(self, step):
        return torch.ones(4, self.model.config.width)

    def loss(self, batch, player):
        return ((batch * self.model.weight - 2.0) ** 2).mean()


class ScaleRecipe:
    summary = "a toy scale"

    def default_config(self):
        return RunConfig(model=ScaleConfig(), optim=OptimConfig(lr=0.1, warmup_steps=0),
                         train=TrainConfig(steps=3, batch_size=4, eval_every=100, checkpoint_every=100))

    def build_task(self, config):
        return ScaleTask(Scale(config.model))

    def add_arguments(self, parser):
        parser.add_argument("--width", type=int)

    def apply_arguments(self, config, args):
        if args.width is None:
            return config
        if args.width < 1:
            raise UserError(f"--width {args.width} must be >= 1")
        return dataclasses.replace(config, model=ScaleConfig(width=args.width))

    def add_sample_arguments(self, parser):
        parser.add_argument("--times", type=int, default=1)

    def sample(self, model, args):
        return f"{type(model).__name__} width {model.config.width} times {args.times} seed {args.seed}"


RECIPES = {"scale": {"plain": ScaleRecipe()}}
'''


def test_a_family_adds_a_training_target_and_its_sampler_by_its_recipes_alone(fake_families, capsys, tmp_path):
    fake_families({"toyfamily": {"recipes": TOY_RECIPES}})
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "train a toy scale" in capsys.readouterr().out  # the target and its summary, from the recipe
    out = tmp_path / "run"
    assert main(["train", "scale", "--width", "3", "--set", "train.steps=2", "--quiet", "--out", str(out)]) == 0
    saved = json.loads((out / "final" / "config.json").read_text())
    assert saved["config"] == {"width": 3} and saved["archlab_class"] == "archlab.toyfamily.recipes:Scale"
    capsys.readouterr()
    assert main(["sample", "scale", "--ckpt", str(out), "--times", "2", "--seed", "5"]) == 0
    assert capsys.readouterr().out == "Scale width 3 times 2 seed 5\n"


def test_a_recipes_own_options_and_bad_values_are_one_line_errors(fake_families, capsys, tmp_path):
    fake_families({"toyfamily": {"recipes": TOY_RECIPES}})
    assert main(["train", "scale", "--width", "0", "--out", str(tmp_path / "run")]) == 2
    assert_one_line_error(capsys.readouterr().err, "--width 0 must be >= 1")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "scale", "--data", "x.txt"])  # lm's option is lm's: the toy target does not take it
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "unrecognized arguments: --data")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "scale", "--arch", "gpt2"])
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "invalid choice: 'gpt2'", "'plain'")
    assert not (tmp_path / "run").exists()


def test_the_lm_target_gathers_every_familys_architectures():
    from archlab.train.recipe import all_recipes, samplers

    lm = all_recipes()["lm"]
    assert list(lm)[:2] == ["gpt2", "llama"]  # the transformer family first: gpt2 is the default
    assert {"moe", "mamba", "hybrid", "lstm", "gru"} <= set(lm)
    assert "lm" in samplers()


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["train", "nosuch"], ["invalid choice: 'nosuch'", "'lm'"]),
        (["train", "lm", "--arch", "nosuch"], ["invalid choice: 'nosuch'", "'mamba'"]),
        (["sample", "lm", "--prompt", "x"], ["--ckpt"]),
        (["train"], ["TARGET"]),
    ],
)
def test_bad_targets_and_architectures_exit_2_with_one_line(capsys, argv, fragments):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, *fragments)
