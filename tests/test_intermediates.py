"""Intermediate outputs: a damaged split or model is named in one line (the file, what is
wrong, the output to delete or --forcerun) before anything reads it; split folders and
model files get the modes the umask asks for; and the small figure-planning rules (a
reference sweep only where a method has several reference settings, track labels that say
they are half-open)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from grammarbench.errors import DamagedOutputError, InputError
from grammarbench.grammars.grammar import load_grammar
from grammarbench.io import file_problem, file_record, npy_shape
from grammarbench.models.architectures import architecture_from_dict
from grammarbench.models.networks import load_trained
from grammarbench.models.train import fit
from grammarbench.simulation.dataset import SPLIT_FILES, check_split, load_split
from grammarbench.simulation.simulate import simulate_split

REPO = Path(__file__).resolve().parents[1]
TINY_NET = {
    "name": "tiny",
    "layers": [{"conv": {"filters": 2, "width": 5}}, "relu", "global_max_pool",
               {"dense": {"units": "outputs"}}],
    "training": {"batch_size": 32, "max_epochs": 1},
}


@pytest.fixture(scope="module")
def grammar():
    return load_grammar(REPO / "config/grammars/one-motif.yaml")


@pytest.fixture(scope="module")
def pristine(grammar, tmp_path_factory):
    root = tmp_path_factory.mktemp("pristine")
    for split, n in (("train", 96), ("validation", 40)):
        simulate_split(grammar, split, n, 1, root / split)
    return root


@pytest.fixture
def split(pristine, tmp_path):
    """A fresh copy of a good split, to damage."""
    shutil.copytree(pristine / "train", tmp_path / "train")
    return tmp_path / "train"


def damaged(path) -> DamagedOutputError:
    with pytest.raises(DamagedOutputError) as err:
        load_split(path)
    message = str(err.value)
    assert "\n" not in message and f"--forcerun {path}" in message and f"delete {path}" in message
    assert isinstance(err.value, InputError)  # the CLI prints it as one line
    return err.value


def truncate(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep] if keep > 0 else data)


# ---------------------------------------------------------------------------- splits


def test_manifest_records_every_file(split):
    manifest = json.loads((split / "manifest.json").read_text())
    assert set(manifest["files"]) == set(SPLIT_FILES)
    for name, record in manifest["files"].items():
        assert record == file_record(split / name), name
        assert len(record["sha256"]) == 64                          # all small here
    assert check_split(split) == manifest
    assert len(load_split(split)) == 96


def test_truncated_array_is_named_not_an_mmap_error(split):
    truncate(split / "sequences.npy", 100)
    err = damaged(split)
    assert str(err).startswith(f"{split / 'sequences.npy'}: ")
    assert "truncated" in str(err)


def test_truncated_array_caught_by_its_header_without_a_manifest_record(split):
    """Splits written before the manifest recorded files: the .npy header still tells."""
    manifest = json.loads((split / "manifest.json").read_text())
    del manifest["files"]
    (split / "manifest.json").write_text(json.dumps(manifest))
    assert len(load_split(split)) == 96
    truncate(split / "mask.npy", 7)
    err = damaged(split)
    assert f"{split / 'mask.npy'}: " in str(err) and "header" in str(err) and "truncated" in str(err)
    # an array of the wrong length, complete in itself
    np.save(split / "lengths.npy", np.zeros(95, np.int32))
    (split / "mask.npy").unlink()
    shutil.copy(split / "sequences.npy", split / "mask.npy")
    err = damaged(split)
    assert "lengths.npy" in str(err) and "shape (95,)" in str(err)


def test_missing_file(split):
    (split / "entries.npy").unlink()
    assert "entries.npy: missing" in str(damaged(split))


def test_same_size_different_contents_fails_the_checksum(split):
    path = split / "instances.tsv"
    text = path.read_bytes()
    path.write_bytes(text.replace(b"\t+\t", b"\t-\t", 1))
    assert path.stat().st_size == len(text)
    assert "checksum" in str(damaged(split))


def test_no_manifest_or_no_folder(split, tmp_path):
    (split / "manifest.json").unlink()
    assert "no manifest.json" in str(damaged(split))
    with pytest.raises(DamagedOutputError, match="no such split folder"):
        load_split(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    assert "unreadable manifest" in str(damaged(tmp_path / "bad"))


def test_file_helpers(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(10, dtype=np.int16).reshape(2, 5))
    assert npy_shape(path) == ((2, 5), np.dtype(np.int16))
    record = file_record(path)
    assert file_problem(path, record) is None and file_problem(path, None) is None
    assert file_record(path, hash_limit=10) == {"bytes": record["bytes"]}   # big: size only
    truncate(path, 1)
    assert "truncated" in file_problem(path, record)
    with pytest.raises(ValueError, match="truncated"):
        npy_shape(path)
    path.write_bytes(b"not an array")
    with pytest.raises(ValueError, match="not a readable .npy"):
        npy_shape(path)
    assert file_problem(tmp_path / "gone", record) == "missing"


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def trained(pristine, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    summary = fit(architecture_from_dict(TINY_NET), pristine / "train", pristine / "validation",
                  out, model_seed=1, device="cpu", threads=1)
    assert set(summary["files"]) == {"model.pt", "architecture.yaml"}
    assert json.loads((out / "summary.json").read_text())["files"] == summary["files"]
    return out


@pytest.fixture
def model_dir(trained, tmp_path):
    shutil.copytree(trained, tmp_path / "model")
    return tmp_path / "model"


def model_damaged(folder) -> str:
    with pytest.raises(DamagedOutputError) as err:
        load_trained(folder, device="cpu")
    message = str(err.value)
    output = folder / "model.pt"
    assert "\n" not in message and f"--forcerun {output}" in message and f"delete {output}" in message
    return message


def test_good_model_loads(model_dir):
    assert load_trained(model_dir, device="cpu").n_outputs == 2


def test_truncated_model_is_one_line_not_a_torch_traceback(model_dir):
    truncate(model_dir / "model.pt", 200)
    message = model_damaged(model_dir)
    assert message.startswith(f"{model_dir / 'model.pt'}: ") and "truncated" in message


def test_truncated_model_without_summary_record(model_dir):
    """Older folders (no files in summary.json), or none: torch's own error, named."""
    (model_dir / "summary.json").unlink()
    truncate(model_dir / "model.pt", 200)
    message = model_damaged(model_dir)
    assert "not a readable PyTorch state dict" in message


def test_missing_or_mismatched_model_files(model_dir, tmp_path):
    (model_dir / "summary.json").unlink()
    state = torch.load(model_dir / "model.pt", weights_only=True)
    state = {k: v[..., :1] if v.ndim else v for k, v in state.items()}  # wrong shapes
    torch.save(state, model_dir / "model.pt")
    assert "does not fit architecture.yaml" in model_damaged(model_dir)
    (model_dir / "model.pt").unlink()
    assert "model.pt: missing" in model_damaged(model_dir)
    (model_dir / "architecture.yaml").write_text("- just\n- a list\n")
    torch.save({}, model_dir / "model.pt")
    assert "architecture.yaml: not a resolved architecture" in model_damaged(model_dir)


# ---------------------------------------------------------------------------- modes


@pytest.mark.parametrize("umask,folder_mode,file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_outputs_respect_the_umask(grammar, tmp_path, umask, folder_mode, file_mode):
    """Collaborators on a shared filesystem read what the umask lets them: no
    ``drwx------`` split folders (mkdtemp's mode) or private model files."""
    old = os.umask(umask)
    try:
        simulate_split(grammar, "test", 20, 1, tmp_path / "test", exports=("fasta",))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "test").stat().st_mode) == folder_mode
    for path in (tmp_path / "test").rglob("*"):
        want = folder_mode if path.is_dir() else file_mode
        assert stat.S_IMODE(path.stat().st_mode) == want, path


def test_model_files_respect_the_umask(pristine, tmp_path):
    old = os.umask(0o022)
    try:
        fit(architecture_from_dict(TINY_NET), pristine / "train", pristine / "validation",
            tmp_path / "m", model_seed=1, device="cpu", threads=1)
    finally:
        os.umask(old)
    for path in (tmp_path / "m").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ---------------------------------------------------------------------------- figures


def test_reference_sweep_only_where_a_method_has_several_reference_settings():
    from grammarbench.attribution.settings import has_reference_sweep, validate_attribution_config

    def runs(methods):
        return validate_attribution_config({"methods": methods}, "<test>").runs

    # the default grid: IG with 5 shuffles against DeepLIFT-SHAP with 10: no sweep
    default = {"grad_x_input": {}, "integrated_gradients": {"reference": "shuffle", "n_references": 5},
               "deeplift_shap": {"reference": "shuffle", "n_references": 10}, "ism": {}}
    assert not has_reference_sweep(runs(default))
    assert not has_reference_sweep(runs({"saliency": {}}))
    assert has_reference_sweep(runs({"deeplift": {"references": ["zeros", "mean_composition"]}}))
    # one method, shuffles ×10 and ×20: a sweep over n
    assert has_reference_sweep(runs([
        {"method": "deeplift_shap", "name": "s10", "reference": "shuffle", "n_references": 10},
        {"method": "deeplift_shap", "name": "s20", "reference": "shuffle", "n_references": 20}]))
    # two settings of one method with the same reference: no sweep
    assert not has_reference_sweep(runs([
        {"method": "integrated_gradients", "name": "a", "reference": "zeros", "steps": 10},
        {"method": "integrated_gradients", "name": "b", "reference": "zeros", "steps": 50}]))


def test_track_logo_title_says_half_open():
    import pandas as pd

    from grammarbench.aggregate import figures as fg

    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, 4, 60))
    codes = rng.integers(0, 4, size=(2, 60)).astype(np.uint8)
    instances = pd.DataFrame({"example": [0], "element": ["E"], "start": [23], "end": [43],
                              "strand": ["+"]})
    fig = fg.attribution_tracks(maps, codes, instances)
    title = fig.axes[-1].get_title()
    assert "[23, 43)" in title and "20 letters" in title and "23–43" not in title
