"""Tests for grammarbench.grammars.motifs: motif file readers, the JASPAR database, IC, similarity."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from grammarbench.grammars import motifs as M
from grammarbench.sequences.alphabet import DNA, PROTEIN
from grammarbench.errors import InputError
from grammarbench.grammars.motifs import consensus, information_content, jaspar_matrix, ppm_similarity, read_homer, read_jaspar, read_meme, read_motif_file, write_meme

REPO = Path(__file__).resolve().parents[1]
MOTIFS = REPO / "config" / "motifs"


def write(tmp_path, name, text) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def random_ppm(rng, width, size=4) -> np.ndarray:
    return rng.dirichlet(np.full(size, 0.5), size=width)


# ------------------------------------------------------------------ example files


def test_example_meme_known_values():
    motifs = read_meme(MOTIFS / "example.meme")
    assert list(motifs) == ["SOX2", "FOXA1"]
    sox2 = motifs["SOX2"]
    assert sox2.dtype == np.float64 and sox2.shape == (11, 4)
    np.testing.assert_allclose(sox2.sum(axis=1), 1.0)
    assert consensus(sox2)[2:9] == "ACAATGG"  # the SOX core
    np.testing.assert_allclose(sox2[2], [0.973890, 0.005084, 0.004874, 0.016151], atol=1e-6)
    # the alternate name (the JASPAR ID) finds the motif but is not listed
    assert "MA0143.4" in motifs and motifs["MA0143.4"] is sox2 and len(motifs) == 2
    assert motifs.get("nope") is None


def test_example_files_are_the_jaspar_matrices():
    """The shipped examples really are the JASPAR matrices they claim to be."""
    sox2 = read_meme(MOTIFS / "example.meme")["SOX2"]
    np.testing.assert_allclose(sox2, jaspar_matrix("MA0143.4")[1], atol=2e-6)
    foxa1 = read_meme(MOTIFS / "example.meme")["MA0148.5"]
    np.testing.assert_allclose(foxa1, jaspar_matrix("MA0148.5")[1], atol=2e-6)

    homer = read_homer(MOTIFS / "example.homer")
    assert list(homer) == ["TATA-box", "CCAAT-box"]
    name, tbp = jaspar_matrix("MA0108.3")
    assert name == "TBP" and consensus(homer["TATA-box"]) == "TATAAAA"
    np.testing.assert_allclose(homer["TATA-box"], tbp, atol=2e-3)  # HOMER keeps 3 decimals
    assert homer["TATAAAA"] is homer["TATA-box"]  # consensus as alias

    jaspar = read_jaspar(MOTIFS / "example.jaspar")
    assert list(jaspar) == ["MA0139.2", "MA0058.4"]
    np.testing.assert_array_equal(jaspar["CTCF"], jaspar_matrix("MA0139.2")[1])
    assert consensus(jaspar["MAX"]) == "CACGTG"


def test_reference_grammar_motifs_resolve():
    grammar = REPO / "config" / "grammars" / "reference.yaml"
    name, ppm = read_motif_file(grammar.parent / "../motifs/example.meme", "meme", "SOX2",
                                source=grammar, key="elements.SOX2", alphabet=DNA)
    assert name == "SOX2" and ppm.shape == (11, 4)
    name, ppm = read_motif_file(grammar.parent / "../motifs/example.homer", "homer", "TATA-box",
                                source=grammar, key="elements.TATA")
    assert name == "TATA-box" and ppm.shape == (7, 4)


# ------------------------------------------------------------------ MEME


def test_write_read_meme_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    motifs = {"m1": random_ppm(rng, 6), "second.motif": random_ppm(rng, 12)}
    path = tmp_path / "out.meme"
    write_meme(path, motifs, DNA, alt_names={"m1": "ALT1"}, urls={"m1": "http://x/m1"},
               comment="made by a test\nsecond line")
    back = read_meme(path)
    assert list(back) == list(motifs)
    for name, ppm in motifs.items():
        np.testing.assert_allclose(back[name], ppm, atol=1e-6)
    assert back["ALT1"] is back["m1"]
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_write_meme_protein_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    motifs = {"p1": random_ppm(rng, 5, PROTEIN.size)}
    path = tmp_path / "protein.meme"
    write_meme(path, motifs, "protein")
    text = path.read_text()
    assert f"ALPHABET= {PROTEIN.letters}" in text and "strands" not in text
    back = read_meme(path)
    assert back.alphabet is PROTEIN
    np.testing.assert_allclose(back["p1"], motifs["p1"], atol=1e-6)


def test_written_meme_reads_in_biopython(tmp_path):
    """An independent reader (Biopython's MEME minimal parser) accepts our files."""
    from Bio import motifs as bio_motifs

    rng = np.random.default_rng(2)
    path = tmp_path / "bio.meme"
    write_meme(path, {"a": random_ppm(rng, 7), "b": random_ppm(rng, 9)}, comment="provenance")
    with open(path) as handle:
        record = bio_motifs.parse(handle, "minimal")
    assert [m.name for m in record] == ["a", "b"] and [m.length for m in record] == [7, 9]
    with open(MOTIFS / "example.meme") as handle:
        assert [m.name for m in bio_motifs.parse(handle, "minimal")] == ["SOX2", "FOXA1"]


def test_write_meme_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="whitespace"):
        write_meme(tmp_path / "x.meme", {"a b": np.full((3, 4), 0.25)})
    with pytest.raises(ValueError, match="columns"):
        write_meme(tmp_path / "x.meme", {"a": np.full((3, 5), 0.2)})
    with pytest.raises(ValueError, match="non-negative"):
        write_meme(tmp_path / "x.meme", {"a": -np.ones((3, 4))})
    with pytest.raises(ValueError, match="alphabet"):
        write_meme(tmp_path / "x.meme", {"a": np.full((3, 4), 0.25)}, alphabet="RNA")
    assert not (tmp_path / "x.meme").exists()


MEME_V5 = """\
MEME version 5.5.0

ALPHABET "DNA" DNA-LIKE
A "Adenine" CC0000 ~ T "Thymine" 008000
C "Cytosine" 0000CC ~ G "Guanine" FFB300
N "Any base" = ACGT
END ALPHABET

strands: + -

Background letter frequencies
A 0.3 C 0.2 G 0.2 T 0.3

MOTIF 1-ACGT STREME-1
letter-probability matrix: alength= 4 w= 2 nsites= 10 E= 1e-3
 0.5 0.5 0 0
 0.1 0.1 0.1 0.7
log-odds matrix: alength= 4 w= 2 E= 1e-3
 1 1 -5 -5
 -2 -2 -2 1

MOTIF noalt
letter-probability matrix: alength= 4

 2 2 0 0
 0 0 0 1
"""


def test_read_meme_v5_custom_alphabet_and_loose_matrices(tmp_path):
    motifs = read_meme(write(tmp_path, "v5.meme", MEME_V5))
    assert list(motifs) == ["1-ACGT", "noalt"]
    np.testing.assert_allclose(motifs["STREME-1"], [[0.5, 0.5, 0, 0], [0.1, 0.1, 0.1, 0.7]])
    # no w=: rows run to the end; rows are renormalised
    np.testing.assert_allclose(motifs["noalt"], [[0.5, 0.5, 0, 0], [0, 0, 0, 1]])


def test_read_meme_infers_alphabet_from_alength(tmp_path):
    rows = "\n".join(" ".join(["0.05"] * 20) for _ in range(3))
    text = f"MEME version 4\n\nMOTIF prot\nletter-probability matrix: alength= 20 w= 3\n{rows}\n"
    motifs = read_meme(write(tmp_path, "p.meme", text))
    assert motifs.alphabet is PROTEIN and motifs["prot"].shape == (3, 20)


@pytest.mark.parametrize("text, key, problem", [
    ("MOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n", "line 1", "MEME version"),
    ("MEME version 4\n", "", "no MOTIF"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0\n",
     "line 4", "expected 4 probabilities, found 3"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 3\n1 0 0 0\n0 1 0 0\n",
     "line 3", "declares w= 3 but has 2 rows"),
    ("MEME version 4\nMOTIF a\nMOTIF b\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n",
     "line 2", "'a' has no letter-probability matrix"),
    ("MEME version 4\nMOTIF a\n", "line 2", "no letter-probability matrix"),
    ("MEME version 4\nMOTIF\n", "line 2", "without a motif ID"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n-1 1 1 1\n",
     "line 3", "negative"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n0 0 0 0\n",
     "line 3", "only zeros"),
    ("MEME version 4\nALPHABET= ACGTN\n", "line 2", "unsupported MEME alphabet"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n"
     "MOTIF a\nletter-probability matrix: alength= 4 w= 1\n1 0 0 0\n", "line 5", "occurs twice"),
    ("MEME version 4\nALPHABET= ACGT\nMOTIF a\nletter-probability matrix: w= 1\n"
     + " ".join(["0.05"] * 20) + "\n", "line 5", "expected 4 probabilities"),
    ("MEME version 4\nletter-probability matrix: alength= 4 w= 1\n", "line 2", "outside a MOTIF"),
    ("MEME version 4\nMOTIF a\nletter-probability matrix: alength= x w= 1\n", "line 3",
     "integers"),
])
def test_read_meme_errors(tmp_path, text, key, problem):
    path = write(tmp_path, "bad.meme", text)
    with pytest.raises(InputError, match=problem) as err:
        read_meme(path)
    assert err.value.source == str(path) and err.value.key == key


# ------------------------------------------------------------------ JASPAR and HOMER


def test_read_jaspar_layouts(tmp_path):
    # letters in any order, no brackets
    text = ">MA0001.1 AGL3 extra words\nT 0 1\nA 2 1\nG 0 0\nC 2 0\n\n>X2\n1 0\n0 1\n0 0\n0 0\n"
    motifs = read_jaspar(write(tmp_path, "two.jaspar", text))
    assert list(motifs) == ["MA0001.1", "X2"]
    np.testing.assert_allclose(motifs["AGL3 extra words"], [[0.5, 0.5, 0, 0], [0.5, 0, 0, 0.5]])
    np.testing.assert_allclose(motifs["X2"], [[1, 0, 0, 0], [0, 1, 0, 0]])
    # a bare counts matrix: one motif named after the file
    plain = read_jaspar(write(tmp_path, "MA0004.1.pfm", "4 0\n0 4\n0 0\n0 0\n"))
    np.testing.assert_allclose(plain["MA0004.1"], [[1, 0, 0, 0], [0, 1, 0, 0]])


@pytest.mark.parametrize("text, key, problem", [
    (">a\nA [1 2]\nC [1 2]\nG [1 2]\n", "line 1", "4 rows"),
    (">a\nA [1 2]\nC [1 2]\nG [1 2]\nT [1]\n", "line 1", "different lengths"),
    (">a\nA [1]\nA [1]\nG [1]\nT [1]\n", "line 1", "labelled A, C, G and T"),
    ("1 2\n1 2\n1 2\n1 2\n>b\n1\n1\n1\n1\n", "line 5", "before the first '>'"),
    (">a\nA [1 x]\n", "line 2", "expected a row of counts"),
    (">a\nA [0]\nC [0]\nG [0]\nT [0]\n", "line 1", "only zeros"),
    (">\n", "line 1", "without a matrix ID"),
    ("\n", "", "no matrix"),
])
def test_read_jaspar_errors(tmp_path, text, key, problem):
    path = write(tmp_path, "bad.jaspar", text)
    with pytest.raises(InputError, match=problem) as err:
        read_jaspar(path)
    assert err.value.key == key


def test_read_homer_name_falls_back_to_consensus(tmp_path):
    text = (">ACG\n1 0 0 0\n0 1 0 0\n0 0 1 0\n>GG\tGG-box\t3.0\n0 0 1 0\n0 0 1 0\n"
            ">TA TA-spaced 2.0\n0 0 0 1\n1 0 0 0\n")
    motifs = read_homer(write(tmp_path, "m.motif", text))
    assert list(motifs) == ["ACG", "GG-box", "TA-spaced"]
    assert consensus(motifs["GG"]) == "GG"


@pytest.mark.parametrize("text, key, problem", [
    ("0.25 0.25 0.25 0.25\n", "line 1", "before the first '>'"),
    (">A\tA\t1\n0.5 0.5 0\n", "line 2", "expected 4 probabilities"),
    (">A\tA\t1\n>C\tC\t1\n1 0 0 0\n", "line 1", "has no rows"),
    ("", "", "no motif"),
])
def test_read_homer_errors(tmp_path, text, key, problem):
    path = write(tmp_path, "bad.motif", text)
    with pytest.raises(InputError, match=problem) as err:
        read_homer(path)
    assert err.value.key == key


# ------------------------------------------------------------------ read_motif_file


def test_read_motif_file_single_motif_needs_no_name(tmp_path):
    path = write(tmp_path, "one.motif", ">ACG\tone\t1\n1 0 0 0\n0 1 0 0\n0 0 1 0\n")
    name, ppm = read_motif_file(path, "homer")
    assert name == "one" and consensus(ppm) == "ACG"
    ppm[0, 0] = 5  # a fresh array: the caller may change it
    assert read_motif_file(path, "homer", "ACG")[1][0, 0] == 1


def test_read_motif_file_errors(tmp_path):
    grammar = tmp_path / "g.yaml"
    meme = MOTIFS / "example.meme"

    def fails(*args, **kwargs):
        with pytest.raises(InputError) as err:
            read_motif_file(*args, source=grammar, key="elements.E", **kwargs)
        assert err.value.source == str(grammar) and err.value.key == "elements.E"
        return err.value.problem

    assert "choose one with `motif`: SOX2 (alias MA0143.4), FOXA1" in fails(meme, "meme")
    problem = fails(meme, "meme", "SOX3")
    assert "no motif 'SOX3'" in problem and "did you mean SOX2" in problem
    assert "available: SOX2 (alias MA0143.4), FOXA1 (alias MA0148.5)" in problem
    assert "unknown motif file format 'transfac'" in fails(meme, "transfac")
    assert "64 letters" not in fails(meme, "meme", "SOX2", alphabet=PROTEIN)
    assert "20 letters" in fails(meme, "meme", "SOX2", alphabet=PROTEIN)
    # the motif file's own problem is reported under the grammar that referenced it
    missing = fails(tmp_path / "missing.meme", "meme", "SOX2")
    assert "missing.meme" in missing and "not found" in missing
    assert "line 1: not a MEME motif file" in fails(MOTIFS / "example.homer", "meme", "x")
    # one alias on two motifs is ambiguous
    path = write(tmp_path, "dup.motif", ">AC\tm1\t1\n1 0 0 0\n0 1 0 0\n>AC\tm2\t1\n1 0 0 0\n"
                                        "0 1 0 0\n")
    assert "names several motifs" in fails(path, "homer", "AC")
    # without a grammar source the motif file itself is named
    with pytest.raises(InputError) as err:
        read_motif_file(path, "homer")
    assert err.value.source == str(path) and "holds 2 motifs" in err.value.problem


# ------------------------------------------------------------------ JASPAR database


def test_jaspar_matrix_by_id():
    name, ppm = jaspar_matrix("ma0139.1")
    assert name == "CTCF" and ppm.shape == (19, 4) and ppm.dtype == np.float64
    np.testing.assert_allclose(ppm.sum(axis=1), 1.0)
    assert consensus(ppm) == "TGGCCACCAGGGGGCGCTA"


def test_jaspar_versionless_id_takes_latest_version():
    _, latest = jaspar_matrix("MA0139")
    conn = M._jaspar_db(M.JASPAR_RELEASE).conn
    newest = conn.execute("SELECT MAX(VERSION) FROM MATRIX WHERE BASE_ID = 'MA0139'").fetchone()[0]
    np.testing.assert_array_equal(latest, jaspar_matrix(f"MA0139.{newest}")[1])
    assert newest >= 2 and latest.shape != jaspar_matrix("MA0139.1")[1].shape


def test_jaspar_collection_equals_pyjaspars_fetch_motifs():
    """The batched queries give what pyjaspar's fetch_motifs gives (a small taxonomic group:
    fetch_motifs takes about 40 s for all of CORE)."""
    found = M._jaspar_db(M.JASPAR_RELEASE).fetch_motifs(
        collection="CORE", tax_group=["nematodes"], all_versions=False)
    expected = {str(m.matrix_id): (str(m.name), M._jaspar_ppm(m, "", m.matrix_id))
                for m in sorted(found, key=lambda m: m.matrix_id)}
    got = M.jaspar_collection("CORE", "nematodes")
    assert list(got) == list(expected) and len(got) > 50
    for matrix_id, (name, ppm) in expected.items():
        assert got[matrix_id][0] == name
        np.testing.assert_array_equal(got[matrix_id][1], ppm)


def test_jaspar_matrix_errors():
    with pytest.raises(InputError, match="unknown JASPAR matrix ID 'MA9999.1'") as err:
        jaspar_matrix("MA9999.1", source="g.yaml", key="elements.X.jaspar")
    assert str(err.value).startswith("g.yaml: elements.X.jaspar: ")
    with pytest.raises(InputError, match=r"'MA0139.7'.*has MA0139.1, MA0139.2"):
        jaspar_matrix("MA0139.7", source="g.yaml", key="k")
    with pytest.raises(InputError, match="not a JASPAR matrix ID"):
        jaspar_matrix("CTCF", source="g.yaml", key="k")
    with pytest.raises(ValueError, match="not shipped"):
        jaspar_matrix("MA0139.1", release="JASPAR1999")


def test_jaspar_matrix_stays_offline(monkeypatch):
    """The database ships with pyjaspar: no socket is opened, even on a cold cache."""
    def no_network(*args, **kwargs):
        raise AssertionError("jaspar_matrix tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(M, "_DB_CACHE", {})
    assert jaspar_matrix("MA0143")[0] == "SOX2"


# ------------------------------------------------------------------ statistics


def test_information_content():
    one_hot = np.eye(4)
    np.testing.assert_allclose(information_content(one_hot), [2.0] * 4)
    np.testing.assert_allclose(information_content(np.full((3, 4), 0.25)), 0.0, atol=1e-12)
    # relative entropy to a skewed background: A is half the background, so 1 bit
    np.testing.assert_allclose(information_content([[1, 0, 0, 0]], [0.5, 0.2, 0.2, 0.1]), [1.0])
    np.testing.assert_allclose(information_content(np.eye(20)[:2]), [np.log2(20)] * 2)
    ic = information_content(jaspar_matrix("MA0143.4")[1])
    assert ic.shape == (11,) and np.all(ic >= 0) and np.all(ic <= 2)
    with pytest.raises(ValueError):
        information_content(np.ones(4))
    with pytest.raises(ValueError):
        information_content(np.eye(4), background=[0.5, 0.5])


def test_ppm_similarity():
    rng = np.random.default_rng(3)
    a = random_ppm(rng, 10)
    rc = a[::-1, ::-1]
    assert ppm_similarity(a, a) == pytest.approx(1.0)
    assert ppm_similarity(a, rc, reverse_complement=True) == pytest.approx(1.0)
    assert ppm_similarity(a, rc) < 0.99
    # a motif inside a longer one aligns perfectly (ungapped, offset 3)
    assert ppm_similarity(a, a[3:8]) == pytest.approx(1.0)
    assert ppm_similarity(a[3:8], a) == pytest.approx(1.0)
    b = random_ppm(rng, 7)
    assert ppm_similarity(a, b, True) == pytest.approx(ppm_similarity(b, a, True))
    assert -1.0 <= ppm_similarity(a, b) < 0.99
    # uniform columns: identical, so similarity 1 although Pearson r is undefined
    assert ppm_similarity(np.full((5, 4), 0.25), np.full((5, 4), 0.25)) == pytest.approx(1.0)
    sox2, tbp = jaspar_matrix("MA0143.4")[1], jaspar_matrix("MA0108.3")[1]
    assert ppm_similarity(sox2, tbp, True) < ppm_similarity(sox2, sox2, True)


def test_ppm_similarity_min_overlap():
    a = np.eye(4)[[0, 1, 2, 3, 0, 1]]  # ACGTAC
    b = np.eye(4)[[2, 3, 0, 1, 3, 3]]  # GTACTT
    # the end of a overlaps the start of b by 4 columns (GTAC), a perfect match; no
    # alignment that overlaps by 5 or more is perfect
    assert ppm_similarity(a, b, min_overlap=4) == pytest.approx(1.0)
    assert ppm_similarity(a, b, min_overlap=5) < 1.0
    with pytest.raises(ValueError, match="min_overlap"):
        ppm_similarity(a, b, min_overlap=7)


def test_ppm_similarity_errors():
    with pytest.raises(ValueError, match="different alphabets"):
        ppm_similarity(np.eye(4), np.full((3, 20), 0.05))
    with pytest.raises(ValueError, match="DNA"):
        ppm_similarity(np.full((3, 20), 0.05), np.full((3, 20), 0.05), reverse_complement=True)
    with pytest.raises(ValueError, match="shape"):
        ppm_similarity(np.ones(4), np.eye(4))
