"""Held-out sizes depend on the grammar (and the config's n_validation/n_test), never on
the sweep's training-set sizes: extending a sweep keeps every held-out split and model."""

from __future__ import annotations

from pathlib import Path

from grammarbench.grid import HELDOUT_BASIS, build_grid

REPO = Path(__file__).resolve().parents[1]
GRAMMARS = {"one-motif": "config/grammars/one-motif.yaml",    # splits 0.7/0.1/0.2, no sizes
            "reference": "config/grammars/reference.yaml"}    # sizes 2000/300/500


def heldout(**config):
    return build_grid({"grammars": GRAMMARS, "seeds": [1], **config}, "c.yaml", basedir=REPO).heldout


def test_heldout_sizes_do_not_follow_the_sweep():
    small = heldout(n_train=[100])
    assert heldout(n_train=[100, 100_000]) == small
    assert small["reference"] == {"validation": 300, "test": 500}          # the grammar's own
    assert small["one-motif"] == {"validation": round(HELDOUT_BASIS * 0.1 / 0.7),
                                  "test": round(HELDOUT_BASIS * 0.2 / 0.7)}


def test_config_sizes_win():
    sizes = heldout(n_train=[100], n_validation=50, n_test=70)
    assert sizes == {"one-motif": {"validation": 50, "test": 70}, "reference": {"validation": 50, "test": 70}}
