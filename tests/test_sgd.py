"""The engine's SGD makes torch.optim.SGD's update exactly, and their checkpoints are interchangeable."""

import subprocess
import sys

import pytest
import torch

from sample_importance.training.models import build_model
from sample_importance.training.sgd import SGD

SETTINGS = [
    {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
    {"momentum": 0.9, "nesterov": False, "weight_decay": 5e-4},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
    {"momentum": 0.9, "nesterov": True, "weight_decay": 0.0},
]


def model_and_batches(seed=0, steps=6):
    torch.manual_seed(seed)
    model = build_model("cnn", 3, 10, 4)
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(steps)]
    return model, batches


def train(model, optimizer, batches, lrs, set_lr):
    for (x, y), lr in zip(batches, lrs):
        set_lr(optimizer, lr)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def set_ours(opt, lr):
    opt.lr = lr


def set_torch(opt, lr):
    for group in opt.param_groups:
        group["lr"] = lr


LRS = [0.1, 0.08, 0.05, 0.03, 0.01, 0.005]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_update_is_bit_equal_to_torch_optim(settings):
    ours, batches = model_and_batches()
    reference, _ = model_and_batches()
    train(ours, SGD(ours.parameters(), lr=LRS[0], **settings), batches, LRS, set_ours)
    train(reference, torch.optim.SGD(reference.parameters(), lr=LRS[0], **settings), batches, LRS, set_torch)
    for (name, a), b in zip(ours.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, b) for a, b in zip(ours.parameters(), model_and_batches()[0].parameters()))  # it trained


def test_parameters_without_gradient_are_left_alone():
    model, batches = model_and_batches()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    before = frozen.clone()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    assert len(opt.params) == len(list(model.parameters())) - 1
    train(model, opt, batches[:2], LRS, set_ours)
    assert torch.equal(frozen, before)


@pytest.mark.parametrize("direction", ["ours_to_torch", "torch_to_ours"])
def test_checkpoints_move_between_the_two(direction):
    """Half the steps with one optimizer, its state_dict loaded into the other, the rest there: same weights."""
    settings = {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
    straight, batches = model_and_batches()
    train(straight, torch.optim.SGD(straight.parameters(), lr=0.1, **settings), batches, LRS, set_torch)

    split, _ = model_and_batches()
    first_cls, second_cls = (SGD, torch.optim.SGD) if direction == "ours_to_torch" else (torch.optim.SGD, SGD)
    setters = {SGD: set_ours, torch.optim.SGD: set_torch}
    first = first_cls(split.parameters(), lr=0.1, **settings)
    train(split, first, batches[:3], LRS[:3], setters[first_cls])
    second = second_cls(split.parameters(), lr=0.1, **settings)
    second.load_state_dict(first.state_dict())
    train(split, second, batches[3:], LRS[3:], setters[second_cls])
    for a, b in zip(split.parameters(), straight.parameters()):
        assert torch.equal(a, b)


def test_state_dict_of_another_model_is_refused():
    model, _ = model_and_batches()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    other = SGD(list(model.parameters())[:2], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="this model has one group of"):
        opt.load_state_dict(other.state_dict())


def test_nesterov_without_momentum_is_refused():
    model, _ = model_and_batches()
    with pytest.raises(ValueError, match="Nesterov"):
        SGD(model.parameters(), lr=0.1, nesterov=True)


def test_a_training_step_does_not_import_dynamo():
    """The reason this optimizer exists: the train path stays clear of torch._dynamo's 1.3 s import."""
    code = (
        "import sys, torch\n"
        "from sample_importance.training.models import build_model\n"
        "from sample_importance.training.sgd import SGD\n"
        "m = build_model('cnn', 3, 10, 4); opt = SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)\n"
        "m(torch.randn(4, 3, 16, 16)).sum().backward(); opt.step(); opt.zero_grad()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
