"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def janggu_files():
    """janggu 0.10.2's Oct4 (sample.fa) and Mafk (sample2.fa) ChIP-seq windows, fetched
    once from PyPI into the cache (GPL-3: never copied into this repository)."""
    from grammarbench.simulation.realistic.windows import janggu_fasta

    try:
        return janggu_fasta("sample.fa"), janggu_fasta("sample2.fa")
    except RuntimeError as err:
        pytest.skip(f"janggu's windows are fetched from PyPI, which is unreachable: {err}")
