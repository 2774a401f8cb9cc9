import pytest
import torch

from archlab.core.tokens import check_token_ids


def test_valid_ids_pass():
    check_token_ids(torch.tensor([[0, 4, 9]]), vocab_size=10, max_len=5, past=2)


@pytest.mark.parametrize(
    "ids, kwargs, message",
    [
        (torch.tensor([1, 2]), {}, "must be \\(batch, length\\)"),
        (torch.tensor([[1.0, 2.0]]), {}, "integer token ids"),
        (torch.tensor([[1, 10]]), {}, "must be in \\[0, 10\\), got range \\[1, 10\\]"),
        (torch.tensor([[-1, 2]]), {}, "got range \\[-1, 2\\]"),
        (torch.tensor([[1, 2, 3]]), {"max_len": 4, "past": 2}, "sequence of 5 tokens exceeds max_seq_len=4"),
    ],
)
def test_bad_ids_raise_a_clear_error(ids, kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_token_ids(ids, vocab_size=10, **kwargs)
