"""roarkit.core.models: architectures, sizes and seeded construction (real torch, synthetic inputs)."""
import pytest
import torch
from torch import nn

from roarkit.core import models
from roarkit.core.models import MODELS, RoarNet, SGTNet, build


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin, cout, k):  # weights + biases
    return cin * cout * k * k + cout


def fc(nin, nout):
    return nin * nout + nout


@pytest.mark.parametrize("cls", [RoarNet, SGTNet])
@pytest.mark.parametrize("c,side,k", [(1, 28, 10), (3, 32, 10), (1, 28, 2)])
def test_output_is_logits_of_shape_batch_by_classes(cls, c, side, k):
    model = cls(in_channels=c, image_size=side, num_classes=k).eval()
    out = model(torch.randn(5, c, side, side))
    assert out.shape == (5, k)
    assert out.dtype == torch.float32
    # logits, not probabilities: rows do not sum to one and values can be negative
    assert not torch.allclose(out.exp().sum(1), torch.ones(5))


def test_roarnet_flat_size_is_256_for_mnist_and_400_for_cifar_shape():
    assert RoarNet(1, 28).flat_size == 256
    assert RoarNet(3, 32).flat_size == 400
    assert RoarNet(1, 28).classifier[0].in_features == 256
    assert SGTNet(1, 28).flat_size == 9216


def test_roarnet_parameter_count_matches_the_report_architecture():
    # conv(1->6,k5), conv(6->16,k5), FC 256->120->84->10
    expected = conv(1, 6, 5) + conv(6, 16, 5) + fc(256, 120) + fc(120, 84) + fc(84, 10)
    assert expected == 44426
    assert n_params(RoarNet(1, 28, 10)) == expected
    expected_rgb = conv(3, 6, 5) + conv(6, 16, 5) + fc(400, 120) + fc(120, 84) + fc(84, 10)
    assert n_params(RoarNet(3, 32, 10)) == expected_rgb == 62006


def test_sgtnet_parameter_count_matches_the_pytorch_mnist_example():
    # conv(1->32,k3), conv(32->64,k3), FC 9216->128->10
    expected = conv(1, 32, 3) + conv(32, 64, 3) + fc(9216, 128) + fc(128, 10)
    assert expected == 1199882
    assert n_params(SGTNet(1, 28, 10)) == expected
    flat = 64 * 14 * 14
    assert n_params(SGTNet(3, 32, 10)) == conv(3, 32, 3) + conv(32, 64, 3) + fc(flat, 128) + fc(128, 10)


def test_sgtnet_dropout_is_active_in_train_mode_only():
    model = SGTNet()
    ps = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert ps == [0.25, 0.5]
    x = torch.randn(4, 1, 28, 28)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


def test_custom_widths_are_used():
    model = RoarNet(channels=(4, 8), hidden=(32, 16), num_classes=3)
    assert model.flat_size == 8 * 4 * 4
    assert [m.out_features for m in model.classifier if isinstance(m, nn.Linear)] == [32, 16, 3]


def test_build_is_deterministic_per_seed_and_seeds_differ():
    a, b, c = build("roar", seed=0), build("roar", seed=0), build("roar", seed=1)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(),
                                  c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    s0, s1 = build("sgt", seed=3), build("sgt", seed=3)
    assert all(torch.equal(p, q) for p, q in zip(s0.parameters(), s1.parameters()))


def test_build_leaves_the_global_rng_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    build("sgt", seed=0)
    assert torch.equal(torch.get_rng_state(), state)


def test_build_passes_shapes_and_device():
    model = build("roar", seed=0, in_channels=3, image_size=32, num_classes=7, device="cpu")
    assert isinstance(model, RoarNet)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 7)
    assert next(model.parameters()).device.type == "cpu"
    assert isinstance(build("sgt", seed=0, dropout=(0.1, 0.2)), SGTNet)
    assert set(MODELS) == {"roar", "sgt"} and models.MODELS is MODELS


def test_build_unknown_name_names_the_known_models():
    with pytest.raises(ValueError, match=r"unknown model 'lenet'.*'roar', 'sgt'"):
        build("lenet", seed=0)


def test_too_small_images_are_rejected():
    with pytest.raises(ValueError, match="image_size"):
        RoarNet(image_size=12)
