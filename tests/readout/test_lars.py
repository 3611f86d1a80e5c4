"""LARS steps against MAE's formula (facebookresearch/mae util/lars.py), written out by hand."""
import pytest
import torch

from readout.lars import LARS


def hand_step(w, g, mu, lr, wd, momentum, eta):
    """One step for one parameter: weight decay and trust ratio only for ndim > 1."""
    if w.ndim > 1:
        d = g + wd * w
        w_norm, d_norm = float(w.norm()), float(d.norm())
        d = d * (eta * w_norm / d_norm if w_norm > 0 and d_norm > 0 else 1.0)
    else:
        d = g
    mu = momentum * mu + d
    return w - lr * mu, mu


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_two_steps_of_a_weight_matrix_and_a_bias(wd):
    torch.manual_seed(0)
    weight, bias = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    params = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(bias.clone())]
    optimizer = LARS(params, lr=0.3, weight_decay=wd, momentum=0.9, trust_coefficient=0.001)
    expected = [(weight, torch.zeros_like(weight)), (bias, torch.zeros_like(bias))]
    for _ in range(2):
        grads = [torch.randn_like(weight), torch.randn_like(bias)]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        optimizer.step()
        expected = [hand_step(w, g, mu, 0.3, wd, 0.9, 0.001) for (w, mu), g in zip(expected, grads)]
        for p, (w, _) in zip(params, expected):
            torch.testing.assert_close(p.detach(), w, rtol=0, atol=1e-12)
    # the matrix moved by the trust-ratio-scaled step, the bias by the raw gradient: of very different sizes
    assert (params[0].detach() - weight).abs().max() < 1e-2 < (params[1].detach() - bias).abs().max()


def test_zero_weights_take_the_plain_gradient():
    w = torch.nn.Parameter(torch.zeros(3, 3))
    w.grad = torch.ones(3, 3)
    LARS([w], lr=0.5).step()
    torch.testing.assert_close(w.detach(), torch.full((3, 3), -0.5))


def test_bad_hyper_parameters_are_refused():
    with pytest.raises(ValueError, match="momentum"):
        LARS([torch.nn.Parameter(torch.zeros(2))], momentum=1.0)
