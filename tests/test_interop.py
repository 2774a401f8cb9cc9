import pytest
import torch

from archlab.interop import from_pyg, from_torch, from_transformers


class Unknown(torch.nn.Module):
    pass


@pytest.mark.parametrize("convert", [from_transformers, from_pyg, from_torch])
def test_unsupported_class_names_the_supported_ones(convert):
    with pytest.raises(ValueError, match="Unknown is not supported; supported classes:"):
        convert(Unknown())
