"""The multimodal claims' deterministic parts: the cone measures on constructed inputs, the attention FLOP count's
formula, the registered ids."""

import torch

from archlab.lab import all_claims
from archlab.multimodal.cone import cosine_by_depth
from archlab.multimodal.contrastive import modality_gap
from archlab.multimodal.modality_gap import shift_to_close
from archlab.multimodal.token_budget import HEAD_DIM, HEADS, attention_flops


def test_registered_ids():
    assert {c.id for c in all_claims("multimodal")} == {"multimodal.cone-effect", "multimodal.token-budget",
                                                         "multimodal.projector-fusion", "multimodal.modality-gap",
                                                         "multimodal.relation-grounding"}


def test_linear_layers_keep_random_inputs_apart_and_relu_draws_them_together():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 512, generator=g, dtype=torch.float64)
    linear = cosine_by_depth(x, "linear", g)
    relu = cosine_by_depth(x, "relu", g)
    assert max(linear) < 0.1
    # One ReLU layer on independent Gaussian inputs: E[relu z]^2 / E[relu z^2] = (1 / 2 pi) / (1 / 2) = 1 / pi.
    assert abs(relu[0] - 1 / torch.pi) < 0.02
    assert relu[-1] > relu[0] + 0.3


def test_attention_flops_are_the_two_products():
    # Q K^T and A V: 2 matmuls of (N, Dh) x (Dh, N) and (N, N) x (N, Dh), 2 N^2 Dh FLOPs each, per head.
    for n in (4, 10):
        assert attention_flops(n) == HEADS * 2 * (2 * n * n * HEAD_DIM)


def test_the_shift_closes_the_gap_and_keeps_unit_norms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=g) + 3.0
    y = torch.randn(50, 8, generator=g) - 3.0
    assert modality_gap(x, y) > 1.0
    xs, ys = shift_to_close(x, y)
    assert torch.allclose(xs.norm(dim=-1), torch.ones(50)) and torch.allclose(ys.norm(dim=-1), torch.ones(50))
    assert modality_gap(xs, ys) < 0.1 * modality_gap(x, y)


def test_identity_and_relation_scoring():
    from archlab.multimodal import vocab
    from archlab.multimodal.relation import identity_and_relation

    w = {d: vocab.INDEX[vocab.NUMBER_WORDS[d]] for d in range(10)}
    present = torch.tensor([[3, 8], [3, 8], [1, 2], [1, 2]])
    answer = torch.tensor([w[3], w[8], w[1], w[2]])
    guess = torch.tensor([w[3], w[3], w[5], w[2]])  # right, the other digit present, absent, right
    assert identity_and_relation(guess, present, answer) == (0.75, 0.5)


def test_text_only_answers_take_each_questions_majority_answer():
    from archlab.multimodal import vocab
    from archlab.multimodal.digits import Question
    from archlab.multimodal.relation import text_only_answers

    left, right = "what digit is on the left ?", "what digit is on the right ?"
    train = [Question("left", 0, left, "three"), Question("left", 1, left, "three"), Question("left", 2, left, "one"),
             Question("right", 0, right, "eight")]
    test = [Question("left", 0, left, "one"), Question("right", 0, right, "two"),
            Question("identity", 0, "is there a two ?", "yes")]  # unseen: the most frequent answer overall
    expected = [vocab.INDEX[w] for w in ("three", "eight", "three")]
    assert text_only_answers(train, test).tolist() == expected
