"""roarkit.core.removal: the one pixel-count rule, ranking with random tie-breaks, the one removal mask."""
import pytest
import torch

from roarkit.core import curves, removal, sgt, smoot


def test_n_pixels_rounds_half_up_by_hand():
    assert removal.n_pixels(0.3, 1024) == 307  # 307.2
    assert removal.n_pixels(0.5, 784) == 392
    assert removal.n_pixels(0.5, 5) == 3  # 2.5: half up (Python's round would give 2)
    assert removal.n_pixels(0.25, 10) == 3  # 2.5 again
    assert removal.n_pixels(0.75, 10) == 8  # 7.5
    assert removal.n_pixels(0.0, 784) == 0 and removal.n_pixels(1.0, 784) == 784
    t = removal.n_pixels(torch.tensor([0.2, 0.8, 0.25, 0.05]), 10)
    assert t.dtype == torch.long and t.tolist() == [2, 8, 3, 1]  # 0.5 → 1: half up for tensors too
    with pytest.raises(ValueError, match="fraction must be a number in \\[0, 1\\]"):
        removal.n_pixels(1.5, 10)


def test_every_user_of_the_count_rule_agrees():
    """ROAR thresholds, curve steps, SGT's k and SMOOT's per-image K all count pixels the same way."""
    from roarkit.core import roar
    assert curves.counts(784, 20).tolist() == [0, 39, 78, 118, 157, 196, 235, 274, 314, 353, 392, 431, 470, 510,
                                               549, 588, 627, 666, 706, 745, 784]  # j · 39.2, half up
    assert curves.counts(10, 4).tolist() == [0, 3, 5, 8, 10]  # 2.5 → 3 and 7.5 → 8
    assert roar.n_pixels(25, 10) == 3 and roar.n_pixels(30, 1024) == 307
    step = sgt.SGTStep(sgt.SGTConfig(k=0.25))
    step.begin(None, torch.zeros(1, 1, 2, 5), None, 0)
    assert step.k_fixed == 3
    book = smoot.MaskBook(3, smoot.SMOOTConfig(k_min=0.0, k_max=1.0, k_init=0.25))
    assert book.k(torch.arange(3), 10).tolist() == [3, 3, 3]


def test_ranks_order_by_score_and_break_ties_at_random():
    score = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    assert removal.ranks(score, 0).tolist() == [[3, 0, 1, 2]]  # 0 = most important
    assert removal.ranks(score, 0, descending=False).tolist() == [[0, 3, 2, 1]]  # 0 = least important
    flat = torch.zeros(500, 10)
    r0, r1 = removal.ranks(flat, 0), removal.ranks(flat, 1)
    assert torch.equal(r0, removal.ranks(flat, 0)) and not torch.equal(r0, r1)
    assert (r0.sort(1).values == torch.arange(10)).all()  # a permutation per image
    first = (r0 == 0).float().mean(0)  # each pixel comes first about equally often
    assert first.min() > 0.05 and first.max() < 0.15
    g = torch.Generator().manual_seed(0)
    assert torch.equal(removal.ranks(flat, g), r0)  # a seed and a generator seeded with it agree


def test_removal_mask_removes_the_top_k_or_keeps_them():
    rank = torch.tensor([[2, 0, 3, 1]])
    assert removal.removal_mask(rank, 2).tolist() == [[False, True, False, True]]
    assert removal.removal_mask(rank, 2, keep=True).tolist() == [[True, False, True, False]]
    # k and keep broadcast: one count and mode per row (model, step or image)
    m = removal.removal_mask(rank.expand(3, 4), torch.tensor([[0], [1], [4]]), torch.tensor([[False], [True], [False]]))
    assert m.tolist() == [[False] * 4, [True, False, True, True], [True] * 4]
    x = torch.arange(8.0).view(1, 2, 2, 2)
    out = removal.remove(x, removal.removal_mask(rank, 1), fill=-1.0)
    assert out[0, :, 0, 1].tolist() == [-1.0, -1.0] and (out != -1).sum() == 6  # every channel of the pixel


def test_remove_fills_zero_by_default_and_the_given_value_otherwise():
    from roarkit.core import roar
    x = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[True, False, False, True]])
    assert removal.remove(x, mask).flatten().tolist() == [0.0, 1.0, 1.0, 0.0]
    rank = torch.tensor([[0, 3, 2, 1]])
    assert roar.remove(x, rank, 50).flatten().tolist() == [0.0, 1.0, 1.0, 0.0]
    assert roar.remove(x, rank, 50, "kar", fill=-2.0).flatten().tolist() == [1.0, -2.0, -2.0, 1.0]


def test_n_pixels_clamps_tensors_and_refuses_booleans_and_ranks_default_to_seed_zero():
    assert removal.n_pixels(torch.tensor([-0.1, 0.5, 1.2]), 10).tolist() == [0, 5, 10]
    for bad in (True, "0.5", -0.1):
        with pytest.raises(ValueError, match="a removal fraction must be a number in"):
            removal.n_pixels(bad, 10)
    flat = torch.zeros(20, 10)
    assert torch.equal(removal.ranks(flat), removal.ranks(flat, 0))
    assert removal.ranks(flat).dtype == torch.int16 and removal.ranks(flat, dtype=torch.long).dtype == torch.long
