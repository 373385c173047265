"""Architectures and models: the zoo builds and runs for DNA and protein at two lengths;
bad architectures fail before training with one message naming the file and the key;
predict and load_trained keep their contracts."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from grammarbench.models.architectures import architecture_from_dict, check_fit, load_architecture, resolve
from grammarbench.errors import InputError
from grammarbench.grid import build_grid
from grammarbench.models.networks import SequenceModel, build_model, count_parameters, load_trained
from grammarbench.models.predict import one_hot_batch, predict
from grammarbench.runtime import resolve_device
from grammarbench.sequences.kernels import one_hot

torch.use_deterministic_algorithms(True, warn_only=True)

REPO = Path(__file__).resolve().parents[1]
ZOO = sorted((REPO / "config" / "architectures").glob("*.yaml"))
#: The zoo's networks (gkmsvm.yaml is a gapped k-mer SVM: tests/test_gkmsvm.py).
NETWORKS = [p for p in ZOO if p.stem != "gkmsvm"]
ALPHABETS = {"DNA": "ACGT", "protein": "ACDEFGHIKLMNPQRSTVWY"}


def fitted(arch, length=100, alphabet="DNA", classes=("a", "b"), task="multi-class"):
    return resolve(arch, length=length, letters=ALPHABETS[alphabet], alphabet=alphabet,
                   classes=list(classes), task=task)


def test_the_zoo_has_every_family():
    names = {p.stem for p in ZOO}
    assert {"fc10", "conv10-fc10", "conv10-gmp-fc10", "conv10w-gmp-fc10", "conv10xw-gmp-fc10",
            "conv10w-conv10w-gmp-fc10", "basset", "deepsea", "danq", "beluga", "chromdragonn",
            "exp-cnn"} <= names
    for path in ZOO:
        assert path.read_text().startswith("#"), f"{path.name}: starts with a comment saying what it is"


@pytest.mark.parametrize("alphabet", ["DNA", "protein"])
@pytest.mark.parametrize("length", [50, 120])
@pytest.mark.parametrize("path", NETWORKS, ids=[p.stem for p in NETWORKS])
def test_zoo_architecture_builds_and_runs_forward_and_backward(path, length, alphabet):
    torch.manual_seed(0)
    arch = load_architecture(path)
    resolved = fitted(arch, length=length, alphabet=alphabet, classes=("a", "b", "c"))
    model = build_model(resolved)
    A = len(ALPHABETS[alphabet])
    codes = torch.randint(0, A + 1, (3, length), dtype=torch.uint8)  # code A: unknown/padding
    x = one_hot_batch(codes, A)
    logits = model(x)
    assert logits.shape == (3, 3)
    logits[:, 1].sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert count_parameters(model)["total"] == sum(p.numel() for p in model.parameters())
    assert (model.alphabet_size, model.length, model.n_outputs) == (A, length, 3)


@pytest.mark.parametrize("path", NETWORKS, ids=[p.stem for p in NETWORKS])
def test_every_activation_site_has_its_own_module(path):
    # Captum's DeepLIFT hooks each non-linearity module: a shared one would be hooked twice.
    model = build_model(fitted(load_architecture(path)))
    all_sites = [m for _, m in model.named_modules(remove_duplicate=False)]
    assert len(all_sites) == len({id(m) for m in all_sites})
    assert not any(getattr(m, "inplace", False) for m in all_sites)


def test_outputs_and_receptive_field_are_resolved():
    arch = load_architecture(REPO / "config/architectures/conv10w-conv10w-gmp-fc10.yaml")
    resolved = fitted(arch, classes=("a", "b", "c", "d"))
    assert resolved["layers"][-1] == {"dense": {"units": 4, "bias": True}}
    assert resolved["receptive_field"] == 41
    assert resolved["training"]["loss"] == "cross_entropy"
    assert fitted(arch, task="multi-label")["training"]["loss"] == "binary_cross_entropy"
    # the resolved form is itself a valid architecture: it round-trips through YAML
    again = architecture_from_dict({k: resolved[k] for k in ("name", "layers", "training")})
    assert again.layers == resolved["layers"]


# ---------------------------------------------------------------------------- bad input


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problem(path, length=100, alphabet_size=4, n_outputs=2, task="multi-class") -> InputError:
    with pytest.raises(InputError) as info:
        arch = load_architecture(path)
        check_fit(arch, length=length, alphabet_size=alphabet_size, n_outputs=n_outputs, task=task)
    err = info.value
    assert str(err).startswith(f"{path}: ")  # one line: file, key, problem
    assert "\n" not in str(err)
    return err


GOOD_LAYERS = """\
layers:
  - conv: {filters: 4, width: 5}
  - relu
  - global_max_pool
  - dense: {units: outputs}
"""


@pytest.mark.parametrize("text, key, words", [
    ("layers:\n  - convolution: {filters: 4, width: 5}\n", "layers[0]", "unknown layer 'convolution'"),
    ("layers:\n  - conv: {filters: 4, widht: 5}\n", "layers[0].conv.widht", "unknown option of conv"),
    ("layers:\n  - conv: {filters: 4}\n", "layers[0].conv", "needs `width`"),
    ("layers:\n  - dropout: {rate: 1.5}\n", "layers[0].dropout.rate", "[0, 1)"),
    ("layers:\n  - residual: {layers: [{maxpool: {size: 2}}]}\n", "layers[0].residual.layers[0]", "unknown layer"),
    (GOOD_LAYERS + "training: {lr: 0.1}\n", "training.lr", "unknown option"),
    (GOOD_LAYERS + "training: {optimizer: adagrad}\n", "training.optimizer", "unknown optimizer"),
    (GOOD_LAYERS + "dropout: 0.5\n", "dropout", "unknown key"),
    ("module: nowhere.py:Net\n", "module", "module file not found"),
    ("module: net.py\n", "module", "file.py:ClassName"),
    ("layers: [conv: {filters: 4}\n", "", "not valid YAML"),
])
def test_bad_architecture_is_named_by_file_and_key(tmp_path, text, key, words):
    err = problem(write(tmp_path, "arch.yaml", text))
    assert err.key == key and words in err.problem, str(err)


@pytest.mark.parametrize("layers, length, key, words", [
    # a receptive field longer than the sequence
    ([{"conv": {"filters": 4, "width": 41}}, "global_max_pool", {"dense": {"units": "outputs"}}],
     30, "layers[0].conv", "receptive field (41 letters) does not fit the 30 positions"),
    # pooling that outgrows what is left
    ([{"conv": {"filters": 4, "width": 3, "padding": "same"}}, {"max_pool": {"size": 4}},
      {"max_pool": {"size": 4}}, "flatten", {"dense": {"units": "outputs"}}],
     12, "layers[2].max_pool", "pooling window of 4 does not fit the 3 positions"),
    # an output layer of the wrong size
    ([{"conv": {"filters": 4, "width": 3}}, "global_max_pool", {"dense": {"units": 3}}],
     100, "layers[2].dense.units", "3 units but there are 2 classes"),
    # no output layer at all
    ([{"conv": {"filters": 4, "width": 3}}], 100, "layers", "must be one logit per class"),
    # a residual block that changes the length
    ([{"residual": {"layers": [{"conv": {"filters": 4, "width": 3}}]}}, "flatten", {"dense": {"units": "outputs"}}],
     100, "layers[0].residual", "must keep the positions"),
    # a convolution after the positions are gone
    (["flatten", {"conv": {"filters": 4, "width": 3}}], 100, "layers[1].conv", "flattened"),
])
def test_architecture_that_does_not_fit_the_grammar(tmp_path, layers, length, key, words):
    path = write(tmp_path, "arch.yaml", yaml.safe_dump({"layers": layers}))
    err = problem(path, length=length)
    assert err.key == key and words in err.problem, str(err)


def test_zoo_basset_does_not_fit_a_short_grammar():
    err = problem(REPO / "config/architectures/basset.yaml", length=40)
    assert err.key == "layers[11].max_pool" and "pooling window of 4" in err.problem


def test_loss_must_fit_the_task(tmp_path):
    path = write(tmp_path, "arch.yaml", GOOD_LAYERS + "training: {loss: cross_entropy}\n")
    err = problem(path, task="multi-label")
    assert err.key == "training.loss"


MODULE = """
    import torch

    class Net(torch.nn.Module):
        def __init__(self, alphabet_size, n_outputs, hidden=8):
            super().__init__()
            self.conv = torch.nn.Conv1d(alphabet_size, hidden, 5, padding=2)
            self.relu = torch.nn.ReLU()
            self.out = torch.nn.Linear(hidden, n_outputs)

        def forward(self, x):
            return self.out(self.relu(self.conv(x)).amax(-1))

    class WrongSize(Net):
        def forward(self, x):
            return super().forward(x)[:, :1]

    class Crashes(Net):
        def forward(self, x):
            raise RuntimeError("boom")

    class NotAModule:
        pass
"""


@pytest.mark.parametrize("spec, key, words", [
    ("module: net.py:Missing\n", "module", "no class 'Missing'"),
    ("module: broken.py:Net\n", "module", "does not import"),
    ("module: imports.py:Net\n", "module", "does not import: ModuleNotFoundError"),
    ("module: net.py:WrongSize\n", "module", "returns (2, 1) for 2 examples, but there are 2 classes"),
    ("module: net.py:Crashes\n", "module", "forward pass fails"),
    ("module: net.py:NotAModule\n", "module", "not a torch.nn.Module"),
    ("module: net.py:Net\noptions: {hidden: 4, depth: 2}\n", "options", "unexpected keyword"),
    ("module: net.py:Net\noptions: {n_outputs: 3}\n", "options.n_outputs", "set from the grammar"),
])
def test_bad_module_architecture(tmp_path, spec, key, words):
    write(tmp_path, "net.py", MODULE)
    write(tmp_path, "broken.py", "import torch\nclass Net(torch.nn.Module:\n")
    write(tmp_path, "imports.py", "import not_a_package_anywhere\nclass Net:\n    pass\n")
    err = problem(write(tmp_path, "arch.yaml", spec))
    assert err.key == key and words in err.problem, str(err)


def test_module_architecture_builds_with_options(tmp_path):
    write(tmp_path, "net.py", MODULE)
    arch = load_architecture(write(tmp_path, "arch.yaml", "module: net.py:Net\noptions: {hidden: 6}\n"))
    model = build_model(fitted(arch, length=80, classes=("a", "b", "c")))
    assert model.conv.out_channels == 6 and model(torch.zeros(2, 4, 80)).shape == (2, 3)


def test_build_grid_checks_architectures_against_every_grammar(tmp_path):
    short = tmp_path / "short.yaml"
    grammar = yaml.safe_load((REPO / "config/grammars/one-motif.yaml").read_text())
    grammar["length"] = 40
    short.write_text(yaml.safe_dump(grammar))
    config = {"grammars": {"one-motif": "config/grammars/one-motif.yaml", "short": str(short)},
              "architectures": {"basset": "config/architectures/basset.yaml"}, "n_train": [10]}
    with pytest.raises(InputError) as info:
        build_grid(config, "config.yaml", basedir=REPO)
    assert info.value.source.endswith("config/architectures/basset.yaml")
    assert info.value.key == "layers[11].max_pool" and "grammar 'short'" in info.value.problem
    config["architectures"] = {"x": "config/architectures/none.yaml"}
    with pytest.raises(InputError, match="architectures.x: architecture file not found"):
        build_grid(config, "config.yaml", basedir=REPO)
    config["architectures"] = {"a": "config/architectures/fc10.yaml"}
    grid = build_grid(config, "config.yaml", basedir=REPO)
    assert list(grid.models.columns) == ["grammar", "seed", "n_train", "architecture", "model_seed"]
    assert len(grid.models) == 2


# ---------------------------------------------------------------------------- predict, loading


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    arch = load_architecture(REPO / "config/architectures/exp-cnn.yaml")
    return build_model(fitted(arch, length=64, classes=("a", "b", "c")))


def test_one_hot_batch_matches_numpy_one_hot():
    codes = np.random.default_rng(0).integers(0, 5, size=(7, 30)).astype(np.uint8)
    ours = one_hot_batch(torch.from_numpy(codes), 4)
    assert ours.dtype == torch.float32 and ours.shape == (7, 4, 30)
    assert np.array_equal(ours.numpy(), one_hot(codes, 4).astype(np.float32))
    assert ours[codes[:, None, :].repeat(4, 1) == 4].sum() == 0  # unknown: an all-zero column


def test_predict_does_not_depend_on_batch_size_and_restores_mode(small_model):
    small_model.train()
    codes = np.random.default_rng(1).integers(0, 4, size=(23, 64)).astype(np.uint8)
    outs = [predict(small_model, codes, batch_size=b, device="cpu") for b in (1, 5, 1000)]
    for out in outs[1:]:
        torch.testing.assert_close(out, outs[0], rtol=1e-5, atol=1e-5)
    assert small_model.training  # mode restored
    # one-hot input gives the same logits as codes
    onehot = one_hot_batch(torch.from_numpy(codes), 4)
    torch.testing.assert_close(predict(small_model, onehot, batch_size=8, device="cpu"), outs[0])
    assert outs[0].shape == (23, 3) and outs[0].dtype == torch.float32


def test_load_trained_rebuilds_the_model(small_model, tmp_path):
    from grammarbench.models.train import TrainResult, save_trained

    resolved = fitted(load_architecture(REPO / "config/architectures/exp-cnn.yaml"), length=64,
                      classes=("a", "b", "c"))
    save_trained(TrainResult(small_model, resolved, history=__import__("pandas").DataFrame(), summary={}), tmp_path)
    loaded = load_trained(tmp_path, device="cpu")
    assert isinstance(loaded, SequenceModel) and not loaded.training
    assert loaded.classes == ["a", "b", "c"] and loaded.task == "multi-class"
    codes = np.random.default_rng(2).integers(0, 4, size=(5, 64)).astype(np.uint8)
    small_model.eval()
    torch.testing.assert_close(predict(loaded, codes, device="cpu"), predict(small_model, codes, device="cpu"))


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto", gpu_allowed=False).type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device(None).type == "cpu"
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
@pytest.mark.parametrize("reuse", [False, True])
def test_attribution_jobs_reuse_freed_memory(reuse):
    # in a fresh process (the allocator's settings are the process's): a freed 48 MB
    # block is taken again by the next one of its size, not mapped afresh and faulted in
    # page by page (12,288 pages of 4 KiB)
    code = textwrap.dedent(f"""
        import resource
        from grammarbench.runtime import reuse_freed_memory
        assert reuse_freed_memory() if {reuse} else True
        faults = []
        for _ in range(3):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            block = bytearray(48 << 20)  # zero-filled: every page written
            del block
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        print(*faults)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    first, *again = map(int, done.stdout.split())
    assert first > 10_000
    if reuse:
        assert max(again) < 1_000
    else:
        assert min(again) > 10_000


@pytest.mark.parametrize("thread_running", [False, True])
def test_a_job_ends_without_finalisation_but_with_its_exit_handlers(tmp_path, thread_running):
    # end_process skips Python's finalisation: the exit handlers must still run, buffered
    # output must reach its files, the status must be the one asked for, and a running
    # non-daemon thread must be waited for, as a normal exit does
    code = textwrap.dedent(f"""
        import atexit, logging, sys, threading, time
        import torch
        from grammarbench.runtime import configure_logging, end_process
        sys.stderr = open({str(tmp_path / "job.log")!r}, "w")  # as the rule scripts do
        configure_logging()
        logging.getLogger("grammarbench").info("logged")
        atexit.register(lambda: open({str(tmp_path / "handler")!r}, "w").write("ran"))
        if {thread_running}:
            threading.Thread(target=lambda: (time.sleep(0.3),
                             open({str(tmp_path / "thread")!r}, "w").write("done"))).start()
        sys.stdout.write("unflushed")
        end_process(3)
        print("after end_process")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout == "unflushed"
    assert (tmp_path / "handler").read_text() == "ran"
    assert "grammarbench INFO: logged" in (tmp_path / "job.log").read_text()
    assert (tmp_path / "thread").exists() == thread_running


def test_a_job_under_cprofile_ends_as_usual(tmp_path):
    # cProfile writes its statistics after the program: end_process must leave it that
    script = tmp_path / "job.py"
    script.write_text("from grammarbench.runtime import end_process\nend_process(0)\n")
    stats = tmp_path / "job.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), str(script)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert stats.stat().st_size > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_predict_on_cuda_matches_cpu(small_model):
    codes = np.random.default_rng(3).integers(0, 4, size=(9, 64)).astype(np.uint8)
    cpu = predict(small_model, codes, device="cpu")
    gpu = predict(small_model, codes, device="cuda")
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)
    assert next(small_model.parameters()).device.type == "cpu"  # device restored


def test_network_layers_come_from_the_disk_cache_without_torch(tmp_path, monkeypatch):
    """Planning checks attribution settings against each network's layers: the cached
    listing equals the built network's, keys on the architecture, and a warm cache spares the
    plan torch's import (a fresh process, as a `snakemake` start)."""
    import subprocess
    import sys

    from grammarbench.attribution.registry import model_layers
    from grammarbench.models.layer_names import network_layers

    arch = load_architecture(REPO / "config/architectures/basset.yaml")
    resolved = resolve(arch, length=600, letters="ACGT", alphabet="DNA", classes=["a", "b"],
                       task="multi-class")
    monkeypatch.setenv("GRAMMARBENCH_CACHE", str(tmp_path))
    built = model_layers(build_model(resolved))
    assert network_layers(resolved) == built  # built, then written
    assert len(list((tmp_path / "network-layers").glob("*.json"))) == 1
    assert network_layers(resolved) == built  # read back
    wider = resolve(arch, length=600, letters="ACGT", alphabet="DNA", classes=["a", "b", "c"],
                    task="multi-class")
    network_layers(wider)
    assert len(list((tmp_path / "network-layers").glob("*.json"))) == 2
    check = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from grammarbench.models.architectures import load_architecture, resolve
        from grammarbench.models.layer_names import network_layers
        arch = load_architecture({str(REPO / "config/architectures/basset.yaml")!r})
        resolved = resolve(arch, length=600, letters="ACGT", alphabet="DNA", classes=["a", "b"],
                           task="multi-class")
        assert network_layers(resolved) == {built!r}
        assert "torch" not in sys.modules, "a warm cache imported torch"
        """)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_recurrent_layer_names_match_torchs_classes():
    """The registry names torch's recurrent and attention layers without importing torch
    (config checks); the names must stay those of the classes it checks modules against."""
    from grammarbench.attribution.registry import _RECURRENT_NAMES, _recurrent_types

    assert {c.__name__ for c in _recurrent_types()} | {"LSTM", "GRU", "RNN"} == set(_RECURRENT_NAMES)
