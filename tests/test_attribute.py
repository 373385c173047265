# test_attribute.py
# Tests for grammarbench.attribution: analytic answers first, then invariants and
# equivalences, then a trained model on a one-motif grammar.

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose
from torch import nn

from grammarbench.scoring import recovery as metrics
from grammarbench.attribution import references
from grammarbench.sequences import kernels as seq
from grammarbench.attribution import (METHODS, AttributionResult, attribute, attribute_split,
                                      model_layers, targets_from_labels,
                                      validate_attribution_config)
from grammarbench.attribution.methods import receptive_fields
from grammarbench.errors import InputError

A, L = 4, 24


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    np.random.seed(0)
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def device(request):
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    return request.param


# ---------------------------------------------------------------------------------------
# toy models with known answers
# ---------------------------------------------------------------------------------------


class LinearFilter(nn.Module):
    """f_0(x) = sum_j (w * x)_j + b and f_1 = -f_0: one linear filter summed over positions.

    Its gradient is constant: G[a, l] = sum of w[a, l - j + pad] over the windows j that
    cover l (the transposed convolution of ones), so every path method is exact:
    gradient x input = x * G, and IG = DeepLIFT = (x - r) * G for any reference r.
    """

    def __init__(self, k=5):
        super().__init__()
        self.conv = nn.Conv1d(A, 1, k, padding=k // 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.linspace(-1, 1, A * k).reshape(1, A, k).flip(-1) ** 3)
            self.conv.bias.fill_(0.3)

    def forward(self, x):
        s = self.conv(x).sum(dim=(1, 2))
        return torch.stack([s, -s], dim=1)

    def gradient(self, length=L):
        ones = torch.ones(1, 1, length)
        with torch.no_grad():
            return F.conv_transpose1d(ones, self.conv.weight, padding=self.conv.padding[0])[0]


class SmallCNN(nn.Module):
    """Conv -> ReLU -> MaxPool -> Conv -> ReLU -> global max pool (MaxPool1d) -> Linear."""

    def __init__(self, length=L):
        super().__init__()
        self.conv1 = nn.Conv1d(A, 8, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(8, 6, 3, padding=1)
        self.bn = nn.BatchNorm1d(6)
        self.relu2 = nn.ReLU()
        self.gmp = nn.MaxPool1d(length // 2)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        h = self.pool(self.relu1(self.conv1(x)))
        h = self.gmp(self.relu2(self.bn(self.conv2(h))))
        return self.fc(h.flatten(1))


class FunctionalCNN(nn.Module):
    """Functional ReLU, one ReLU module used twice, exp activation, residual add, amax."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(A, 8, 7, padding=3)
        self.conv2 = nn.Conv1d(8, 8, 3, padding=1)
        self.conv3 = nn.Conv1d(8, 8, 3, padding=2, dilation=2)
        self.relu = nn.ReLU()  # reused
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.exp(0.3 * self.conv1(x))
        h = self.relu(self.conv2(h)) + h
        h = F.relu(self.conv3(h))
        h = self.relu(h - 0.1)
        return self.fc(h.amax(dim=-1))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(A, 4, 3, padding=1)
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        h, _ = self.lstm(self.conv(x).transpose(1, 2))
        return self.fc(h[:, -1])


def random_codes(n, length=L, seed=0, ragged=False):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, A, (n, length)).astype(np.uint8)
    lengths = np.full(n, length)
    if ragged:
        lengths[1::2] = length - 5
        codes[0, 3] = A  # an N inside a sequence
        codes[np.arange(length) >= lengths[:, None]] = A
    return codes, lengths


def onehot(codes):
    return seq.one_hot(codes, A, np.float32)


# ---------------------------------------------------------------------------------------
# analytic answers on a single linear filter
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["zeros", "uniform", "shuffle"])
@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift", "deeplift_shap"])
def test_path_methods_exact_on_linear_filter(method, reference):
    model = LinearFilter()
    codes, _ = random_codes(5)
    x, G = onehot(codes), model.gradient().numpy()                          # G: (A, L)
    n = 3 if method != "deeplift" else 1
    maps, delta = attribute(model, codes, 0, method, reference, return_delta=True,
                            n_references=n if reference == "shuffle" else None)
    r = references.make_references(reference, codes, n=n, random_state=0)  # (N, n, A, L)
    expected = ((x[:, None] - r) * G).sum(axis=2).mean(axis=1)             # (N, L)
    assert_allclose(maps, x * expected[:, None, :], atol=1e-5)
    assert np.abs(delta).max() < 1e-4
    # completeness: the map sums to f(x) - mean f(r)
    with torch.no_grad():
        fx = model(torch.tensor(x))[:, 0].numpy()
        fr = model(torch.tensor(r.reshape(-1, A, L)))[:, 0].numpy().reshape(5, -1).mean(axis=1)
    assert_allclose(maps.sum(axis=(1, 2)), fx - fr, atol=1e-4)


def test_gradient_methods_exact_on_linear_filter():
    model = LinearFilter()
    codes, _ = random_codes(4)
    x, G = onehot(codes), model.gradient().numpy()
    assert_allclose(attribute(model, codes, 0, "grad_x_input"), x * G, atol=1e-6)
    assert_allclose(attribute(model, codes, 1, "grad_x_input"), -x * G, atol=1e-6)
    assert_allclose(attribute(model, codes, 0, "grad_x_input", hypothetical=True),
                    np.broadcast_to(G, x.shape), atol=1e-6)
    # Majdandzic correction: the gradient minus its mean over letters
    centred = G - G.mean(axis=0)
    assert_allclose(attribute(model, codes, 0, "grad_x_input", correction=True),
                    x * centred, atol=1e-6)
    # saliency: max over letters of |G| at the observed letter (Simonyan et al.)
    assert_allclose(attribute(model, codes, 0, "saliency"), x * np.abs(G).max(axis=0), atol=1e-6)
    for method in ("guided_backprop", "deconvolution", "smoothgrad"):  # no ReLU: the gradient
        assert_allclose(attribute(model, codes, 0, method, hypothetical=True),
                        np.broadcast_to(G, x.shape), atol=1e-5)
    # ISM of a linear model: Delta_a = G_a - G_observed, centred: G_a - mean_b G_b
    assert_allclose(attribute(model, codes, 0, "ism", hypothetical=True),
                    np.broadcast_to(centred, x.shape), atol=1e-5)
    assert_allclose(attribute(model, codes, 0, "ism"), x * centred, atol=1e-5)
    # occlusion with one-position windows and a zero reference: f(x) - f(x without l)
    assert_allclose(attribute(model, codes, 0, "occlusion", window=1), x * G, atol=1e-5)


def test_sis_finds_the_sufficient_positions():
    class Motif(nn.Module):
        """logit_0 = 10 (x[A,5] + x[C,6] + x[G,7]) - 25, logit_1 = 0."""

        def forward(self, x):
            s = 10 * (x[:, 0, 5] + x[:, 1, 6] + x[:, 2, 7]) - 25
            return torch.stack([s, torch.zeros_like(s)], dim=1)

    codes, _ = random_codes(3, seed=14)
    codes[:, 5:8] = [0, 1, 2]
    codes[2, 6] = 3  # no complete motif: logit -2.5, below the threshold
    # with the motif, the logit is 5; masking one motif letter (uniform, 2.5) gives -2.5:
    # the one sufficient subset is the three motif positions
    maps = attribute(Motif(), codes, 0, "sis", "uniform", output="logit", threshold=4.0)
    expect = np.zeros((3, L))
    expect[:2, 5:8] = 1
    assert_allclose(maps.sum(axis=1), expect)


# ---------------------------------------------------------------------------------------
# ISM against a brute-force loop
# ---------------------------------------------------------------------------------------


def brute_force_ism(model, codes, lengths, target):
    x = torch.tensor(onehot(codes))
    out = np.zeros(x.shape)
    with torch.no_grad():
        y0 = model(x)[:, target].numpy()
        for i in range(x.shape[0]):
            for pos in range(lengths[i]):
                for a in range(A):
                    xm = x[i:i + 1].clone()
                    xm[0, :, pos] = 0
                    xm[0, a, pos] = 1
                    out[i, a, pos] = model(xm)[0, target].item() - y0[i]
    out -= out.mean(axis=1, keepdims=True)
    return out * (np.arange(codes.shape[1]) < lengths[:, None])[:, None, :]


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("model_cls", [SmallCNN, FunctionalCNN])
def test_ism_equals_brute_force(model_cls, fast):
    model = model_cls().eval()
    codes, lengths = random_codes(3, seed=2, ragged=True)
    expected = brute_force_ism(model, codes, lengths, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path must not fall back here
        got = attribute(model, codes, 1, "ism", hypothetical=True, lengths=lengths, fast=fast,
                        batch_size=37)
    assert_allclose(got, expected, atol=1e-5)


def test_ism_takes_several_sequences_per_call(monkeypatch):
    # ISM batches its substitutions itself: one call holds the sequences of 16 batches of
    # edits (16 * 50 // (3 * 24) = 11 here), so the fast path fills its batches with
    # edits of several sequences; the maps are those of one sequence per call
    from grammarbench.attribution import fastism

    model = SmallCNN().eval()
    codes, lengths = random_codes(13, seed=11, ragged=True)
    calls = []
    original = fastism.predict_edits
    monkeypatch.setattr(fastism, "predict_edits",
                        lambda run, x, *a: calls.append(len(x)) or original(run, x, *a))
    together = attribute(model, codes, 1, "ism", hypothetical=True, lengths=lengths, batch_size=50)
    assert calls == [11, 2]
    alone = attribute(model, codes, 1, "ism", hypothetical=True, lengths=lengths, batch_size=1)
    assert calls[2:] == [1] * 13
    assert_allclose(together, alone, atol=1e-6)


def test_fast_ism_on_long_sequences_and_global_pooling():
    class GMP(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(A, 16, 9, padding=4)
            self.act = nn.ReLU()
            self.pool = nn.AdaptiveMaxPool1d(1)
            self.fc = nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(self.pool(self.act(self.conv(x))).squeeze(-1))

    model = GMP()
    codes, _ = random_codes(2, length=300, seed=4)
    slow = attribute(model, codes, 0, "ism", fast=False, batch_size=512)
    fast = attribute(model, codes, 0, "ism", fast=True, batch_size=512)
    assert_allclose(fast, slow, atol=1e-5)


class BassetLike(nn.Module):
    """Basset's pattern, small: conv-BN-ReLU-maxpool blocks (an even 'same' kernel, a
    dilated and a grouped convolution, pooling that drops a remainder), then flatten
    and dense layers. ``flatten`` picks how the positions are flattened."""

    def __init__(self, length, flatten="module"):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv1d(A, 12, 7, padding="same"), nn.BatchNorm1d(12),
                                    nn.ReLU(), nn.MaxPool1d(3))
        self.block2 = nn.Sequential(nn.Conv1d(12, 10, 4, padding="same", groups=2),
                                    nn.BatchNorm1d(10), nn.ReLU(), nn.MaxPool1d(2))
        self.block3 = nn.Sequential(nn.Conv1d(10, 8, 3, padding=2, dilation=2), nn.ReLU(),
                                    nn.MaxPool1d(2))
        self.flatten, self.flat = flatten, nn.Flatten()
        self.dense = nn.Sequential(nn.Linear(8 * (length // 3 // 2 // 2), 16), nn.ReLU(),
                                   nn.Dropout(0.3), nn.Linear(16, 3))
        with torch.no_grad():
            for bn in (self.block1[1], self.block2[1]):
                bn.running_mean.uniform_(-0.3, 0.3)
                bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        h = self.block3(self.block2(self.block1(x)))
        if self.flatten == "module":
            h = self.flat(h)
        elif self.flatten == "function":
            h = torch.flatten(h, 1)
        else:
            h = h.flatten(1)
        return self.dense(h)


def assert_fast_ism_equals_full_passes(model, codes, lengths, target, batch_size):
    """Hypothetical ISM maps with the fast path (which must not fall back) equal those of
    full forward passes, and are not all zero."""
    slow = attribute(model, codes, target, "ism", hypothetical=True, lengths=lengths,
                     fast=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path must not fall back here
        fast = attribute(model, codes, target, "ism", hypothetical=True, lengths=lengths,
                         fast=True, batch_size=batch_size)
    assert_allclose(fast, slow, atol=1e-5)
    assert np.abs(slow).max() > 1e-3


@pytest.mark.parametrize("flatten,length", [("module", 121), ("function", 61), ("method", 13)])
def test_fast_ism_of_conv_blocks_and_dense_layers_equals_full_passes(monkeypatch, flatten, length):
    # convolutions from the change of their input, the first dense layer from the change
    # of the flattened window: edits at both ends (windows clamped), sequences shorter
    # than a receptive field (length 13), ragged lengths, an unknown letter, batches
    # of 37 edits that straddle examples
    from grammarbench.attribution import fastism

    monkeypatch.setattr(fastism, "_EDITS_PER_BATCH", 0)  # batches of batch_size edits
    model = BassetLike(length, flatten).eval()
    codes, lengths = random_codes(3, length=length, seed=5, ragged=True)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=2, batch_size=37)
    rules = [rule[0] for rule in fastism._plan(model).rule.values()]
    assert rules.count("dense_of_window") == 1 and rules.count("skip") == 1
    # both batch norms are computed from the convolution before them (its scale folded in)
    assert len(fastism._plan(model).conv_of_batch_norm) == 2
    # every max pool runs on its ReLU's input, the ReLU on the pooled window
    through = fastism._plan(model).pool_through
    assert [(pool.target, source.target, [a.target for a in chain])
            for pool, (source, chain) in through.items()] == [
        ("block1.3", "block1.1", ["block1.2"]), ("block2.3", "block2.1", ["block2.2"]),
        ("block3.2", "block3.0", ["block3.1"])]


def test_fast_ism_batches_edits_in_the_memory_of_the_batch_size(monkeypatch):
    # an edit holds windows, not whole activations: a batch of full forward passes'
    # memory holds many more edits (up to _EDITS_PER_BATCH), never fewer than the batch
    # size; the maps do not depend on it
    from grammarbench.attribution import fastism
    from grammarbench.attribution.core import Run

    model = BassetLike(121).eval()
    codes, lengths = random_codes(3, length=121, seed=5, ragged=True)
    state = fastism._State(fastism._plan(model), Run(model, torch.device("cpu"), torch.float32, 8, A),
                           torch.eye(A)[torch.as_tensor(codes % A).long()].transpose(1, 2))
    full = sum(v.numel() // 3 for n, v in state.env.items() if fastism._plan(model).kind[n] != "static")
    window = sum(v.shape[1] * state.geom[n].W if n in state.geom else v.numel() // 3
                 for n, v in state.env.items() if fastism._plan(model).kind[n] != "static")
    assert full > 5 * window
    assert fastism._edits_per_batch(state, 8) == 8 * full // window
    assert fastism._edits_per_batch(state, 128) == fastism._EDITS_PER_BATCH
    assert fastism._edits_per_batch(state, 5000) == 5000
    sizes = []
    fast = fastism._predict_fast
    monkeypatch.setattr(fastism, "_predict_fast", lambda plan, state, run, e, *a: sizes.append(len(e))
                        or fast(plan, state, run, e, *a))
    wide = attribute(model, codes, 1, "ism", hypothetical=True, lengths=lengths, batch_size=8)
    assert max(sizes) == 8 * full // window
    monkeypatch.setattr(fastism, "_EDITS_PER_BATCH", 0)
    sizes.clear()
    narrow = attribute(model, codes, 1, "ism", hypothetical=True, lengths=lengths, batch_size=8)
    assert max(sizes) == 8
    assert_allclose(wide, narrow, atol=1e-6)


def test_fast_ism_pools_before_the_activations_that_never_decrease():
    # max pooling commutes with a ReLU, a sigmoid and a tanh (they never decrease) but not
    # with GELU (it dips below zero) nor with a ReLU read by another node too; a ReLU
    # straight on the input; the pools' windows reach both ends of the sequences
    from grammarbench.attribution import fastism

    class Blocks(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv1d(A, 8, 5, padding=2), nn.Conv1d(8, 8, 3, padding=1)
            self.conv3 = nn.Conv1d(8, 6, 3, padding=1)
            self.pool = nn.MaxPool1d(2)
            self.dense = nn.Linear(6 * 5 + 6, 2)

        def forward(self, x):
            h = self.pool(torch.sigmoid(torch.relu(self.conv1(torch.relu(x)))))     # 40 -> 20
            h = self.pool(nn.functional.gelu(self.conv2(h)))                        # 20 -> 10
            r = torch.relu(self.conv3(h))
            h = torch.cat([self.pool(r).tanh().flatten(1), r.mean(dim=2)], dim=1)  # r read twice
            return self.dense(h)

    model = Blocks().eval()
    codes, lengths = random_codes(3, length=40, seed=12, ragged=True)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=1, batch_size=23)
    through = {pool.name: (source.name, [a.name for a in chain])
               for pool, (source, chain) in fastism._plan(model).pool_through.items()}
    assert through == {"pool": ("conv1", ["relu_1", "sigmoid"])}


@pytest.mark.parametrize("per_edit_weights", [0, 1 << 24])
def test_fast_ism_of_a_dense_layer_of_windows_grouped_or_per_edit(monkeypatch, per_edit_weights):
    # Linear(Flatten(window)): the weight columns gathered per edit (small layers), or
    # one product per group of edits whose windows start at the same position
    from grammarbench.attribution import fastism

    monkeypatch.setattr(fastism, "_PER_EDIT_WEIGHTS", per_edit_weights)
    model = BassetLike(121).eval()
    codes, lengths = random_codes(3, length=121, seed=7, ragged=True)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=0, batch_size=41)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(A * 30, 5), nn.ReLU(), nn.Linear(5, 2)).eval()
    codes, lengths = random_codes(2, length=30, seed=8, ragged=True)
    assert_fast_ism_equals_full_passes(flat, codes, lengths, target=1, batch_size=41)


def test_fast_ism_of_a_dilated_first_convolution_and_folded_batch_norm():
    # the first convolution's change is a lookup of its weight taps, here dilated (taps
    # 3 positions apart, zeros between) with an even kernel; the second convolution is
    # folded into the batch norm after it; windows reach both ends of the sequences
    from grammarbench.attribution import fastism

    model = nn.Sequential(nn.Conv1d(A, 6, 4, dilation=3, padding=5), nn.ReLU(),
                          nn.Conv1d(6, 5, 3, padding=1), nn.BatchNorm1d(5), nn.ReLU(),
                          nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(5, 2))
    with torch.no_grad():
        model[3].running_mean.uniform_(-0.3, 0.3)
        model[3].running_var.uniform_(0.5, 1.5)
        model[3].weight.uniform_(0.5, 2.0)
    model.eval()
    codes, lengths = random_codes(3, length=40, seed=6, ragged=True)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=1, batch_size=29)
    assert list(fastism._plan(model).conv_of_batch_norm.values())[0].target == "2"


@pytest.mark.parametrize("width,k,dilation,dtype", [
    (7, 11, 1, torch.float64),   # Basset's second convolution: N = 17, odd
    (5, 7, 1, torch.float64),    # its third: N = 11
    (4, 5, 1, torch.float64),    # N = 8, even: the Nyquist row
    (6, 4, 3, torch.float64),    # dilated, even kernel: N = 15
    (7, 11, 1, torch.float32),
])
def test_dft_convolution_of_a_change_equals_conv1d(width, k, dilation, dtype):
    # the full convolution (d*(k-1) zeros of padding on each side) of a change `width`
    # positions wide, through the real DFT, added to a cached window: one that it fills
    # exactly, and a wider one where each edit's convolution starts at its own row,
    # partly outside (dropped)
    from grammarbench.attribution.fastism import _DftConvolution

    gen = torch.Generator().manual_seed(width * k + dilation)
    weight = torch.randn(6, 5, k, generator=gen, dtype=dtype)
    change = torch.randn(9, 5, width, generator=gen, dtype=dtype)
    span = dilation * (k - 1)
    expect = F.conv1d(change, weight, padding=span, dilation=dilation)       # (9, 6, N)
    N = expect.shape[2]
    # changes are channels last in memory, windows (E, W, ch): positions before channels
    change = change.transpose(1, 2).contiguous().transpose(1, 2)
    dft = _DftConvolution(weight, dilation, width, dtype)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    cached = torch.randn(9, N, 6, generator=gen, dtype=dtype)
    assert_allclose(dft(change, cached.clone()).numpy(), (cached + expect.transpose(1, 2)).numpy(),
                    atol=tol)
    W = N + 4
    first = torch.tensor([0, 4, 2, -3, -N, N + 4, 5, -1, 1])                  # (E,)
    cached = torch.randn(9, W, 6, generator=gen, dtype=dtype)
    placed = cached.clone()
    for e, f in enumerate(first.tolist()):
        for j in range(N):
            if 0 <= f + j < W:
                placed[e, f + j] += expect[e, :, j]
    assert_allclose(dft(change, cached, first).numpy(), placed.numpy(), atol=tol)


def test_fast_ism_through_dft_convolutions_equals_full_passes(monkeypatch):
    # convolutions wide enough in channels and taps that the change goes through the
    # real DFT (both wider than one position), batch norms folded into them, edits at
    # both ends: the second convolution's window (its change fills it exactly, or, at an
    # end, placed per edit) and the third's straight into the frame its pool reads
    # (placed per edit)
    from grammarbench.attribution import fastism

    model = nn.Sequential(
        nn.Conv1d(A, 48, 9, padding=4), nn.BatchNorm1d(48), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(48, 48, 13, padding=6), nn.BatchNorm1d(48), nn.ReLU(),
        nn.Conv1d(48, 48, 7, padding=3), nn.ReLU(), nn.MaxPool1d(2),
        nn.Flatten(), nn.Linear(48 * 75, 16), nn.ReLU(), nn.Linear(16, 2))
    with torch.no_grad():
        for bn in (model[1], model[5]):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
    model.eval()
    calls = []
    original = fastism._DftConvolution.__call__
    monkeypatch.setattr(fastism._DftConvolution, "__call__", lambda self, change, cached, first=None:
                        calls.append((self.N, first is None)) or original(self, change, cached, first))
    gathered = []  # windows the pools read from the cache: none, both get frames
    gather = fastism._Edits.gather
    monkeypatch.setattr(fastism._Edits, "gather",
                        lambda self, node, *a, **k: gathered.append(node) or gather(self, node, *a, **k))
    codes, lengths = random_codes(2, length=300, seed=9, ragged=True)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=1, batch_size=211)
    # second convolution: a change 5 positions wide, 13 taps (N = 17); third: 17 wide, 7
    # taps (N = 23)
    assert set(calls) == {(17, True), (17, False), (23, False)}
    assert gathered == []
    # the DFT matrices are built once across calls (here one per sequence), and again
    # when a weight they are made of changes in place (training does that)
    built = []
    init = fastism._DftConvolution.__init__
    monkeypatch.setattr(fastism._DftConvolution, "__init__",
                        lambda self, *a: built.append(a[2]) or init(self, *a))
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=1, batch_size=211)
    assert built == []
    with torch.no_grad():
        model[7].weight.mul_(1.5)
        model[5].running_var.mul_(2.0)
    assert_fast_ism_equals_full_passes(model, codes, lengths, target=1, batch_size=211)
    assert sorted(built) == [5, 17]


def test_fast_ism_that_disagrees_with_full_passes_falls_back(monkeypatch):
    # a fast-path rule made wrong (the first convolution's weight taps 10% too large):
    # the check of a few edits against full forward passes must catch it, warn, and the
    # maps must be those of full forward passes
    from grammarbench.attribution import fastism

    taps = fastism._column_taps
    monkeypatch.setattr(fastism, "_column_taps", lambda *args: 1.1 * taps(*args))
    model = BassetLike(121).eval()
    codes, lengths = random_codes(3, length=121, seed=5, ragged=True)
    slow = attribute(model, codes, 1, "ism", lengths=lengths, fast=False)
    with pytest.warns(RuntimeWarning, match="disagreed with full forward passes"):
        fast = attribute(model, codes, 1, "ism", lengths=lengths, fast=True, batch_size=37)
    assert_allclose(fast, slow, atol=1e-6)


@pytest.mark.parametrize("method,reference", [("ism", None), ("deeplift", "mean_composition")])
def test_attribute_command_writes_the_maps_of_the_package(one_motif_model, tmp_path, method, reference):
    # `grammarbench attribute` as a user runs it (its console script, a fresh process that
    # ends without Python's finalisation): the maps it writes are attribute_split's, with
    # the training split's letter frequencies for the mean_composition reference
    import subprocess
    import sys
    from pathlib import Path

    from grammarbench.attribution.registry import model_layers
    from grammarbench.attribution.settings import validate_attribution_config
    from grammarbench.models.networks import load_trained
    from grammarbench.simulation.dataset import load_split

    data, folder = one_motif_model.data, one_motif_model.model
    cli = Path(sys.executable).with_name("grammarbench")
    argv = [str(cli), "attribute", str(folder), "--test", str(data["test"]), "--train",
            str(data["train"]), "--method", method, "--n-examples", "6", "--batch-size", "16",
            "--random-state", "0", "--device", "cpu", "--out", str(tmp_path / "maps")]
    done = subprocess.run(argv + (["--reference", reference] if reference else []),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    model = load_trained(folder, device="cpu")
    section = {"methods": {method: {"reference": reference} if reference else {}},
               "n_examples": 6, "batch_size": 16, "random_state": 0}
    settings = validate_attribution_config(section, "test", model_layers(model))
    train = load_split(data["train"])
    frequencies = references.letter_frequencies(np.asarray(train.sequences), np.asarray(train.lengths))
    (run,) = settings.runs
    expect = attribute_split(model, load_split(data["test"]), run.settings, n_examples=6,
                             frequencies=frequencies, batch_size=16, device="cpu", random_state=0)
    written = AttributionResult.load(tmp_path / "maps" / f"{run.name}.npz")
    assert written.maps.shape == (6, A, 200)
    assert_allclose(written.maps, expect.maps, rtol=1e-3, atol=1e-6)  # stored as float16
    assert np.abs(written.maps).max() > 1e-3


# ---------------------------------------------------------------------------------------
# DeepLIFT: completeness, agreement with Captum, functional and reused nonlinearities
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [SmallCNN, FunctionalCNN])
@pytest.mark.parametrize("method", ["deeplift", "deeplift_shap"])
def test_deeplift_completeness(model_cls, method):
    model = model_cls()
    codes, lengths = random_codes(6, seed=3, ragged=True)
    maps, delta = attribute(model, codes, 1, method, "shuffle" if method == "deeplift_shap"
                            else "uniform", lengths=lengths, return_delta=True, batch_size=8)
    assert np.abs(delta).max() < 1e-5
    assert np.abs(maps).max() > 1e-3


def test_deeplift_warns_when_completeness_fails():
    class Gated(nn.Module):  # h * sigmoid(h): a product of activations has no DeepLIFT rule
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(A, 4, 5, padding=2)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            h = self.conv(x)
            return self.fc((h * torch.sigmoid(h)).amax(dim=-1))

    codes, _ = random_codes(4, seed=13)
    with pytest.warns(RuntimeWarning, match="without a DeepLIFT rule"):
        _, delta = attribute(Gated(), codes, 0, "deeplift", return_delta=True)
    assert np.abs(delta).max() > 1e-4


@pytest.mark.filterwarnings("ignore::UserWarning:captum")
def test_deeplift_matches_captum_where_captum_applies():
    from captum.attr import DeepLift

    class ModuleCNN(nn.Module):  # only nn.Module nonlinearities Captum hooks
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(A, 8, 5, padding=2)
            self.act1 = nn.ReLU()
            self.conv2 = nn.Conv1d(8, 4, 3)
            self.act2 = nn.ELU()
            self.fc = nn.Linear(4 * (L - 2), 2)

        def forward(self, x):
            return self.fc(self.act2(self.conv2(self.act1(self.conv1(x)))).flatten(1))

    model = ModuleCNN().eval()
    codes, _ = random_codes(5, seed=5)
    ours = attribute(model, codes, 1, "deeplift", "shuffle", random_state=3)
    r = torch.tensor(references.shuffle(codes, 1, random_state=3)[:, 0])
    theirs = DeepLift(model).attribute(torch.tensor(onehot(codes)), baselines=r, target=1)
    assert_allclose(ours.sum(axis=1), theirs.detach().numpy().sum(axis=1), atol=1e-6)


def test_deeplift_hypothetical_projects_to_contributions():
    model = FunctionalCNN()
    codes, _ = random_codes(4, seed=6)
    x = onehot(codes)
    hyp = attribute(model, codes, 0, "deeplift_shap", n_references=4, hypothetical=True)
    proj = attribute(model, codes, 0, "deeplift_shap", n_references=4)
    assert_allclose((hyp * x).sum(axis=1), proj.sum(axis=1), atol=1e-6)


def test_guided_backprop_applies_to_functional_relus():
    model = FunctionalCNN()
    codes, _ = random_codes(3, seed=7)
    g = attribute(model, codes, 0, "guided_backprop", hypothetical=True)
    d = attribute(model, codes, 0, "deconvolution", hypothetical=True)
    plain = attribute(model, codes, 0, "grad_x_input", hypothetical=True)
    assert not np.allclose(g, plain) and not np.allclose(d, plain) and not np.allclose(g, d)


# ---------------------------------------------------------------------------------------
# GradCAM
# ---------------------------------------------------------------------------------------


def test_gradcam_receptive_field_and_mapping():
    model = SmallCNN()
    from grammarbench.attribution.core import Run
    run = Run(model.eval(), torch.device("cpu"), torch.float32, 64, A)
    field = receptive_fields(run, model.conv2, L).numpy()                  # (L/2, L)
    # conv1 (k5, pad 2) -> pool 2 -> conv2 (k3, pad 1): output j sees [2j-4, 2j+5]
    for j in range(L // 2):
        expect = np.zeros(L, bool)
        expect[max(0, 2 * j - 4):min(L, 2 * j + 6)] = True
        assert (field[j] == expect).all(), j
    codes, _ = random_codes(3, seed=8)
    maps = attribute(model, codes, 2, "gradcam", layer="conv2")
    assert maps.shape == (3, A, L) and (maps >= 0).all()
    assert ((maps != 0).sum(axis=1) <= 1).all()                            # observed letter only
    default = attribute(model, codes, 2, "gradcam")                        # relu2 after conv2/bn
    assert default.shape == (3, A, L)


# ---------------------------------------------------------------------------------------
# equivalences: batch size, devices, model state
# ---------------------------------------------------------------------------------------

OPTIONS = {"integrated_gradients": {"steps": 8, "reference": "shuffle", "n_references": 3},
           "deeplift_shap": {"n_references": 5}, "smoothgrad": {"n_samples": 6},
           "occlusion": {"window": 3, "reference": "shuffle", "n_references": 2},
           "sis": {"threshold": 0.2, "max_sis": 2}}


@pytest.mark.parametrize("method", [m for m in METHODS if m != "gkmexplain"])   # gkmexplain needs a
def test_batch_size_does_not_change_results(method):                          # gkm-SVM: test_gkmsvm.py
    model = SmallCNN(length=16)
    codes, lengths = random_codes(5, length=16, seed=9, ragged=True)
    kw = dict(OPTIONS.get(method, {}), lengths=lengths, random_state=11, return_delta=True)
    big, d_big = attribute(model, codes, 0, method, batch_size=1000, **kw)
    for bs in ((3, 7) if method in ("sis", "integrated_gradients") else (1, 7)):
        small, d_small = attribute(model, codes, 0, method, batch_size=bs, **kw)
        assert_allclose(small, big, atol=2e-6, rtol=1e-4)
        if d_big is not None:
            assert_allclose(d_small, d_big, atol=2e-6)
    # one example alone equals the same example inside the batch (given its index)
    one = attribute(model, codes[[2]], 0, method, index=[2],
                    **{k: v[[2]] if k == "lengths" else v for k, v in kw.items()})[0]
    assert_allclose(one, big[[2]], atol=2e-6, rtol=1e-4)
    assert not np.abs(big[1, :, 16 - 5:]).any()                            # padding is zero


def test_one_hot_input_and_codes_agree(device):
    model = FunctionalCNN()
    codes, _ = random_codes(4, seed=10)
    a = attribute(model, codes, 1, "deeplift_shap", n_references=3, device=device)
    b = attribute(model, torch.tensor(onehot(codes)), 1, "deeplift_shap", n_references=3,
                  device=device)
    assert_allclose(a, b, atol=1e-6)
    c = attribute(model, codes, 1, "grad_x_input", device=device)
    assert c.dtype == np.float32 and c.shape == (4, A, L)


def test_model_state_is_restored():
    model = nn.Sequential(nn.Conv1d(A, 4, 3, padding=1), nn.Dropout(0.5), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * L, 2))
    model.train()
    codes, _ = random_codes(3)
    a = attribute(model, codes, 0, "grad_x_input")
    b = attribute(model, codes, 0, "grad_x_input")
    assert model.training and np.array_equal(a, b)                         # eval inside
    with pytest.raises(ValueError, match="target holds class 5"):
        attribute(model, codes, 5, "deeplift")
    assert model.training
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert next(model.parameters()).device.type == "cpu"


# ---------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------


def test_bad_input_messages():
    model = SmallCNN()
    codes, _ = random_codes(2)
    with pytest.raises(ValueError, match="method must be one of"):
        attribute(model, codes, 0, "lrp")
    with pytest.raises(ValueError, match="reference must be one of"):
        attribute(model, codes, 0, "deeplift", "gc_matched")
    with pytest.raises(ValueError, match="reference: method 'ism' takes no reference"):
        attribute(model, codes, 0, "ism", "zeros")
    with pytest.raises(ValueError, match="layer: 'conv9' does not exist"):
        attribute(model, codes, 0, "gradcam", layer="conv9")
    with pytest.raises(ValueError, match="cannot apply to this architecture"):
        attribute(Recurrent(), codes, 0, "deeplift")
    with pytest.raises(ValueError, match="steps: must be an integer >= 2"):
        attribute(model, codes, 0, "integrated_gradients", steps=1)
    with pytest.raises(ValueError, match="not an option of method 'saliency'"):
        attribute(model, codes, 0, "saliency", steps=3)
    with pytest.raises(ValueError, match="correction: the gradient correction"):
        attribute(model, codes, 0, "ism", correction=True)
    with pytest.raises(ValueError, match="hypothetical: method 'gradcam'"):
        attribute(model, codes, 0, "gradcam", hypothetical=True)
    with pytest.raises(ValueError, match="use deeplift_shap"):
        attribute(model, codes, 0, "deeplift", "shuffle", n_references=5)
    with pytest.raises(ValueError, match="frequencies"):
        attribute(model, codes, 0, "deeplift", "mean_composition")
    with pytest.raises(ValueError, match="X must be one-hot"):
        attribute(model, np.full((2, A, L), 0.5), 0, "saliency")
    with pytest.raises(ValueError, match="target must be an int or have shape"):
        attribute(model, codes, [0, 1, 0], "saliency")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        attribute(model, codes, 0, "saliency", batch_size=0)
    with pytest.raises(ValueError, match="gradcam cannot apply|needs a convolutional"):
        attribute(nn.Sequential(nn.Flatten(), nn.Linear(A * L, 2)), codes, 0, "gradcam")


def test_validate_attribution_config():
    layers = model_layers(SmallCNN())
    cfg = {"n_examples": 50,
           "methods": {"grad_x_input": {}, "saliency": {"correction": True},
                       "integrated_gradients": {"references": ["zeros", "shuffle"], "steps": 16},
                       "deeplift_shap": None, "gradcam": {"layer": "conv2"}},
           "metrics": {"score": "observed"}}
    out = validate_attribution_config(cfg, "config.yaml", layers)
    names = [r.name for r in out.runs]
    assert names == ["grad_x_input", "saliency", "integrated_gradients-zeros",
                     "integrated_gradients-shuffle", "deeplift_shap", "gradcam"]
    assert out.runs[4].settings.n_references == 20
    assert out.n_examples == 50 and out.batch_size == 128
    listed = validate_attribution_config(
        {"methods": ["ism", {"method": "saliency", "name": "saliency_corrected",
                             "correction": True}, {"method": "saliency"}]}, "c.yaml")
    assert [r.name for r in listed.runs] == ["ism", "saliency_corrected", "saliency"]
    bad = [({"methods": {"lrp": {}}}, "attribution.methods.lrp: unknown method 'lrp'"),
           ({"methods": {"deeplift": {"reference": "gc"}}},
            "attribution.methods.deeplift.reference: unknown reference 'gc'"),
           ({"methods": {"gradcam": {"layer": "conv9"}}},
            "attribution.methods.gradcam.layer: 'conv9' does not exist"),
           ({"methods": {"ism": {"steps": 4}}}, "attribution.methods.ism.steps: not an option"),
           ({"methods": [{"method": "saliency"}, "saliency"]}, "is used twice"),
           ({"methods": {}}, "attribution.methods: is required"),
           ({"methods": {"ism": {}}, "n_examples": 0}, "attribution.n_examples: must be"),
           ({"methods": {"ism": {}}, "colour": 1}, "attribution.colour: unknown key"),
           ({"methods": {"ism": {}}, "metrics": {"score": "max"}}, "attribution.metrics.score")]
    for cfg, message in bad:
        with pytest.raises(InputError, match=message.replace("(", r"\(")):
            validate_attribution_config(cfg, "config.yaml", layers)
    with pytest.raises(InputError, match="config.yaml: attribution.methods.deeplift: .*LSTM"):
        validate_attribution_config({"methods": {"deeplift": {}}}, "config.yaml",
                                    model_layers(Recurrent()))
    with pytest.raises(InputError, match="gradcam.layer: 'x' does not exist"):
        validate_attribution_config({"methods": {"gradcam": {"layer": "x"}}}, "config.yaml",
                                    ["conv1", "fc"])


# ---------------------------------------------------------------------------------------
# a model trained on the one-motif grammar
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_motif(one_motif_model):
    """The shared one-motif model (tests/conftest.py), and the same network untrained."""
    from grammarbench.models.networks import build_model, load_trained, read_resolved
    from grammarbench.simulation.dataset import load_split

    model = load_trained(one_motif_model.model, device="cpu")
    torch.manual_seed(0)
    untrained = build_model(read_resolved(one_motif_model.model)).eval()
    return model, untrained, load_split(one_motif_model.data["test"])


@pytest.mark.parametrize("method", ["grad_x_input", "deeplift_shap", "ism"])
def test_trained_model_recovers_the_motif(one_motif, method):
    model, untrained, test = one_motif
    codes, mask = np.asarray(test.sequences)[:60], np.asarray(test.mask)[:60]
    labels = np.asarray(test.labels)[:60]
    with torch.no_grad():
        acc = (model(torch.tensor(onehot(codes))).argmax(1).numpy() == labels).mean()
    assert acc > 0.85
    kw = {"n_references": 10} if method == "deeplift_shap" else {}
    trained_maps = attribute(model, codes, labels, method, **kw)
    random_maps = attribute(untrained, codes, labels, method, **kw)
    auroc = {}
    for name, maps in (("trained", trained_maps), ("random", random_maps)):
        rows = metrics.position_metrics(metrics.position_scores(maps), mask)
        auroc[name] = next(r["value"] for r in rows
                           if r["metric"] == "position_auroc" and r["statistic"] == "mean")
    assert auroc["trained"] >= 0.8, auroc
    assert abs(auroc["random"] - 0.5) < 0.12, auroc


def test_explain_scores_and_round_trip(one_motif, tmp_path):
    model, _, test = one_motif
    result = attribute_split(model, test, "deeplift_shap", n_examples=30, n_references=4, batch_size=64)
    assert len(result) == 30 and result.maps.shape == (30, A, 200)
    assert result.settings["reference"] == "shuffle" and result.correct.mean() > 0.8
    assert np.abs(result.delta).max() < 1e-4
    path = tmp_path / "maps.npz"
    result.save(path)
    back = AttributionResult.load(path)
    assert_allclose(back.maps, result.maps, atol=1e-3, rtol=1e-2)          # float16 on disk
    assert (back.example == result.example).all() and back.settings == result.settings
    table = back.score(test, labels={"model": "conv-gmp"})
    assert list(table.columns[:3]) == ["model", "method", "reference"]
    auc = table[(table.metric == "window_auroc") & (table.subset == "all")]["value"]
    assert len(auc) == 1 and auc.iloc[0] > 0.9


def test_config_runs_feed_explain(one_motif):
    model, _, test = one_motif
    cfg = validate_attribution_config(
        {"n_examples": 8, "batch_size": 64,
         "methods": {"integrated_gradients": {"references": ["uniform", "shuffle"],
                                              "n_references": 2, "steps": 8},
                     "ism": None, "gradcam": {"layer": "layers.l1_relu"}}},
        "config.yaml", model_layers(model))
    for run in cfg.runs:
        result = attribute_split(model, test, run.settings, n_examples=cfg.n_examples,
                                 batch_size=cfg.batch_size, random_state=cfg.random_state)
        assert len(result) == 8 and result.settings["method"] == run.method
        assert result.reference == run.reference


def test_multilabel_targets(tmp_path):
    from grammarbench.simulation.dataset import Split

    labels = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]], np.uint8)
    example, target = targets_from_labels(labels)
    assert example.tolist() == [0, 0, 2] and target.tolist() == [0, 2, 1]
    codes, lengths = random_codes(3, seed=12)
    split = Split(path=tmp_path, sequences=codes, lengths=lengths.astype(np.int32),
                  labels=labels, mask=np.zeros_like(codes), entries=np.zeros(3, np.int16),
                  manifest={"letters": "ACGT", "classes": ["a", "b", "c"]})
    model = SmallCNN()
    result = attribute_split(model, split, "grad_x_input")
    assert result.example.tolist() == [0, 0, 2] and result.target.tolist() == [0, 2, 1]
    assert result.maps.shape == (3, A, L)
    # the map of (example 0, class 2) is that class's map of example 0
    assert_allclose(result.maps[1], attribute(model, codes[[0]], 2, "grad_x_input")[0],
                    atol=1e-7)
    with torch.no_grad():
        logits = model(torch.tensor(onehot(codes))).numpy()
    assert (result.correct == (logits[result.example, result.target] > 0)).all()
