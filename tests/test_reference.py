"""The reference maths: gradients against finite differences, steps against gradients."""
import numpy as np
import pytest

from hsmcy import HuffmanTree, reference


@pytest.fixture
def problem(rng):
    counts = rng.integers(1, 100, size=13)
    tree = HuffmanTree.from_counts(counts)
    dim = 7
    inner = rng.standard_normal((tree.n_inner, dim))
    hidden = rng.standard_normal(dim)
    return tree, inner, hidden


def numeric_gradient(function, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += eps
        minus[index] -= eps
        grad[index] = (function(plus) - function(minus)) / (2 * eps)
    return grad


@pytest.mark.parametrize("leaf", [0, 5, 12])
def test_gradients_match_finite_differences(problem, leaf):
    tree, inner, hidden = problem
    nodes, codes = tree.path(leaf)
    loss, grad_hidden, grad_rows = reference.loss_and_gradients(hidden, inner, nodes, codes)
    assert loss == pytest.approx(-reference.log_prob(hidden, inner, nodes, codes))
    numeric_hidden = numeric_gradient(lambda h: reference.loss(h, inner, nodes, codes), hidden)
    np.testing.assert_allclose(grad_hidden, numeric_hidden, rtol=1e-5, atol=1e-7)

    def loss_of_rows(rows):
        trial = inner.copy()
        trial[nodes] = rows
        return reference.loss(hidden, trial, nodes, codes)

    numeric_rows = numeric_gradient(loss_of_rows, inner[nodes].copy())
    np.testing.assert_allclose(grad_rows, numeric_rows, rtol=1e-5, atol=1e-7)


def test_loss_is_sum_of_binary_log_losses(problem):
    tree, inner, hidden = problem
    nodes, codes = tree.path(3)
    probabilities = reference.sigmoid(inner[nodes] @ hidden)  # P(target = 1) per node
    targets = 1 - codes
    binary_cross_entropy = -np.sum(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities))
    assert reference.loss(hidden, inner, nodes, codes) == pytest.approx(binary_cross_entropy)


def test_path_step_is_a_gradient_step(problem):
    tree, inner, hidden = problem
    nodes, codes = tree.path(7)
    alpha = 0.01
    _, grad_hidden, grad_rows = reference.loss_and_gradients(hidden, inner, nodes, codes)
    updated = inner.copy()
    hidden_step, _ = reference.path_step(hidden, updated, nodes, codes, alpha)
    np.testing.assert_allclose(hidden_step, -alpha * grad_hidden, rtol=1e-10)
    np.testing.assert_allclose(updated[nodes] - inner[nodes], -alpha * grad_rows, rtol=1e-10)


def test_saturated_wrong_node_still_learns():
    """gensim skips |dot| >= 6; the exact gradient does not."""
    inner = np.array([[10.0, 0.0]])
    hidden = np.array([1.0, 0.0])  # dot = 10: sigmoid ~ 1, but the code says branch 1 (target 0)
    nodes, codes = np.array([0]), np.array([1], dtype=np.uint8)
    updated = inner.copy()
    hidden_step, loss = reference.path_step(hidden, updated, nodes, codes, 0.1)
    assert loss == pytest.approx(10.0, abs=1e-3)
    assert updated[0, 0] < inner[0, 0] - 0.09
    assert hidden_step[0] < -0.9


def test_log_sigmoid_is_stable():
    assert np.isfinite(reference.log_sigmoid(-1000.0))
    assert reference.log_sigmoid(-1000.0) == pytest.approx(-1000.0)
    assert reference.log_sigmoid(1000.0) == pytest.approx(0.0)


def test_sgd_lowers_the_loss(problem):
    tree, inner, hidden = problem
    nodes, codes = tree.path(2)
    before = reference.loss(hidden, inner, nodes, codes)
    hidden = hidden.copy()
    for _ in range(20):
        step, _ = reference.path_step(hidden, inner, nodes, codes, 0.05)
        hidden += step
    assert reference.loss(hidden, inner, nodes, codes) < before
