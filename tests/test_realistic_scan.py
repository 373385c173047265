"""The realistic simulation's motif scanner: exact p-values against brute force, hits
against a direct scan of every window."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from grammarbench.simulation.realistic.scan import MotifScanner, score_matrix, score_survival


def random_ppm(rng, width, concentration=0.3):
    return rng.dirichlet(np.full(4, concentration), size=width)


def all_words(width):
    return np.array(list(itertools.product(range(4), repeat=width)), dtype=np.int64)


@pytest.mark.parametrize("width", [1, 3, 6])
@pytest.mark.parametrize("background", [None, [0.3, 0.2, 0.2, 0.3], [0.1, 0.4, 0.3, 0.2]])
def test_p_values_equal_brute_force(width, background):
    rng = np.random.default_rng(width)
    scores = score_matrix(random_ppm(rng, width), background)
    lowest, survival = score_survival(scores, background)
    bg = np.full(4, 0.25) if background is None else np.asarray(background) / np.sum(background)
    words = all_words(width)
    word_scores = scores[np.arange(width), words].sum(1)
    word_probs = bg[words].prod(1)
    for s in np.unique(word_scores):
        exact = word_probs[word_scores >= s].sum()
        assert survival[s - lowest] == pytest.approx(exact, rel=1e-12, abs=1e-300)
    # scores between reachable ones carry the p-value of the next reachable one
    assert survival[0] == pytest.approx(1.0)
    assert survival[-1] == pytest.approx(word_probs[word_scores == word_scores.max()].sum(), rel=1e-12)


def direct_hits(scanner, codes, lengths):
    """Every window of every strand scored one by one (the definition)."""
    rows = []
    for index, s in enumerate(scanner.strands):
        w = len(s.scores)
        for i, row in enumerate(codes):
            for p in range(lengths[i] - w + 1):
                word = row[p: p + w]
                if (word >= 4).any():
                    continue
                score = int(s.scores[np.arange(w), word].sum())
                if score >= s.threshold:
                    rows.append((i, index, p, score))
    return sorted(rows, key=lambda r: (r[0], r[2], r[1]))


@pytest.mark.parametrize("first_test", ["wide", "two blocks", "cost model"])
@pytest.mark.parametrize("block", [1, 3, 5])
def test_scan_finds_exactly_the_windows_past_the_threshold(block, first_test, monkeypatch):
    from grammarbench.simulation.realistic import scan

    if first_test == "wide":
        monkeypatch.setattr(scan, "WIDE_COST", -1e9)
    elif first_test == "two blocks":
        monkeypatch.setattr(scan, "WIDE_COST", 1e9)
    rng = np.random.default_rng(7)
    motifs = {f"m{i}": random_ppm(rng, w, 0.2) for i, w in enumerate([4, 7, 11, 12])}
    codes = rng.integers(0, 4, size=(60, 90), dtype=np.uint8)
    # plant each motif's consensus so that there are hits, and some unknown letters
    for i, ppm in enumerate(motifs.values()):
        codes[i::4, 20 + i: 20 + i + len(ppm)] = ppm.argmax(1)
        codes[i + 1::7, 50: 50 + len(ppm)] = 3 - ppm.argmax(1)[::-1]
    codes[::5, 22] = 4
    lengths = rng.integers(5, 91, size=60)
    lengths[:20] = 90
    scanner = MotifScanner(motifs, p_threshold=1e-3, block=block)
    wide = scanner._tables.wide_row >= 0
    assert {"wide": wide.all(), "two blocks": not wide.any(), "cost model": True}[first_test]
    window, strand, start, score = scanner.scan_arrays(codes, lengths, n_chunks=7)
    expected = direct_hits(scanner, codes, lengths)
    assert len(expected) > 60
    assert list(zip(window, strand, start, score)) == expected


def test_scan_exact_over_several_groups_of_the_wide_test():
    """More than 64 strands: the wide test looks up 64 strands' verdicts at once, so 80
    strands make two groups (and a cost model that sends some strands to two blocks)."""
    rng = np.random.default_rng(17)
    motifs = {f"m{i}": random_ppm(rng, int(w), 0.15) for i, w in enumerate(rng.integers(4, 15, size=40))}
    codes = rng.integers(0, 4, size=(40, 120), dtype=np.uint8)
    for i, ppm in enumerate(motifs.values()):
        codes[i, 30: 30 + len(ppm)] = ppm.argmax(1)
        codes[(i + 3) % 40, 70: 70 + len(ppm)] = 3 - ppm.argmax(1)[::-1]
    codes[::9, 35] = 4
    scanner = MotifScanner(motifs, p_threshold=1e-3)
    assert len(scanner._tables.group_tables) == 2
    window, strand, start, score = scanner.scan_arrays(codes, n_chunks=3)
    expected = direct_hits(scanner, codes, np.full(len(codes), codes.shape[1]))
    assert len(expected) > 80
    assert list(zip(window, strand, start, score)) == expected


@pytest.mark.parametrize("n_motifs,dtype", [(4, np.uint8), (6, np.uint16), (12, np.uint32), (20, np.uint64)])
def test_wide_verdicts_in_the_narrowest_words(n_motifs, dtype, monkeypatch):
    """A group of few strands keeps its wide-test verdicts in narrower words (a smaller
    table); the hits are the definition's whatever the width."""
    from grammarbench.simulation.realistic import scan

    monkeypatch.setattr(scan, "WIDE_COST", -1e9)  # every strand takes the wide test
    rng = np.random.default_rng(n_motifs)
    motifs = {f"m{i}": random_ppm(rng, int(w), 0.15) for i, w in enumerate(rng.integers(5, 13, size=n_motifs))}
    codes = rng.integers(0, 4, size=(30, 100), dtype=np.uint8)
    for i, ppm in enumerate(motifs.values()):
        codes[i % 30, 10: 10 + len(ppm)] = ppm.argmax(1)
        codes[(i + 7) % 30, 60: 60 + len(ppm)] = 3 - ppm.argmax(1)[::-1]
    scanner = MotifScanner(motifs, p_threshold=1e-3)
    assert scanner._tables.group_tables.dtype == dtype
    window, strand, start, score = scanner.scan_arrays(codes, n_chunks=4)
    expected = direct_hits(scanner, codes, np.full(len(codes), codes.shape[1]))
    assert len(expected) >= n_motifs
    assert list(zip(window, strand, start, score)) == expected


def test_scan_does_not_depend_on_chunks_and_reports_p_values():
    rng = np.random.default_rng(3)
    motifs = {"a": random_ppm(rng, 8, 0.2), "b": random_ppm(rng, 10, 0.2)}
    codes = rng.integers(0, 4, size=(200, 100), dtype=np.uint8)
    codes[:, 40:48] = motifs["a"].argmax(1)
    scanner = MotifScanner(motifs, p_threshold=1e-4)
    one = scanner.scan(codes, n_chunks=1)
    many = scanner.scan(codes, n_chunks=33)
    assert one.equals(many)
    assert (one["p_value"] < 1e-4).all()
    forward_a = one[(one["motif"] == "a") & (one["strand"] == "+") & (one["start"] == 40)]
    assert len(forward_a) == 200
    assert (forward_a["end"] == 48).all()


def test_reverse_strand_hit_is_the_forward_hit_of_the_reverse_complement():
    rng = np.random.default_rng(5)
    ppm = random_ppm(rng, 9, 0.1)
    codes = rng.integers(0, 4, size=(50, 60), dtype=np.uint8)
    codes[:, 10:19] = ppm.argmax(1)
    scanner = MotifScanner({"m": ppm}, p_threshold=1e-4)
    forward = scanner.scan(codes)
    reverse = scanner.scan(np.ascontiguousarray(3 - codes[:, ::-1]))
    f = forward[forward["strand"] == "+"][["window", "start", "p_value"]].reset_index(drop=True)
    r = reverse[reverse["strand"] == "-"].copy()
    r["start"] = 60 - r["end"]
    r = r.sort_values(["window", "start"])[["window", "start", "p_value"]].reset_index(drop=True)
    assert len(f) >= 50
    assert f.equals(r)


def test_bad_scanner_input():
    with pytest.raises(ValueError, match="shape"):
        MotifScanner({"m": np.ones((3, 5))})
    with pytest.raises(ValueError, match="p_threshold"):
        MotifScanner({"m": np.ones((3, 4))}, p_threshold=0)
    with pytest.raises(ValueError, match="no motifs"):
        MotifScanner({})
