"""Write the seqgra-paper grammars of this folder (the ones seqgra's own XML does not cover).

    .venv/bin/python config/grammars/seqgra-paper/generate.py          # rewrite the files
    .venv/bin/python config/grammars/seqgra-paper/generate.py --check  # exit 1 if any differs

seqgra (Krismer, Hammelman & Gifford, Bioinformatics 2022) studied four grammar families at
2, 10 and 50 classes, all on 1,000 letters of i.i.d. background with motifs on the forward
strand:

    one motif per class       class i needs motif i
    interaction               class i needs motifs i and i+1 (a ring; a chain at 2 classes)
    interaction with spacing  k/2 motif pairs, each at a gap of 0-100 letters or of 500+
    interaction with order    k/2 disjoint motif pairs, each in one order or the other

At 2 and 10 classes the motifs are seqgra's HOMER matrices (homer.motifs, from seqgra's
published definitions, MIT). seqgra's 50-class grammars used 50 HOMER matrices that this
repository does not ship, so the 50-class grammars here use 50 JASPAR matrices instead, from
the database pyjaspar ships offline: CORE vertebrates, 10-21 positions wide (the width range
of seqgra's HOMER motifs), at least 12 bits of information, one matrix per TF, and no two
with a best-alignment similarity of 0.65 or more (both strands), picked greedily in an order
drawn from seed 2022. seqgra's own ten HOMER motifs include a pair at 0.88, so the set is no
easier to confuse than seqgra's. tests/test_published_configs.py checks that the files
equal what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the grammarbench package at the repository root

from grammarbench.grammars import motifs  # noqa: E402

LENGTH = 1000
NEAR_GAP = (0, 100)
FAR_MIN_GAP = 500
JASPAR_SELECTION = {"n": 50, "max_similarity": 0.65, "seed": 2022, "min_width": 10,
                    "max_width": 21, "min_bits": 12.0}

HEADER = """\
# seqgra (Krismer, Hammelman & Gifford, Bioinformatics 2022) family, written in our grammar
# language where seqgra's own XML definition is not in config/grammars/seqgra/. It regenerates
# the {panels} ({seqgra_name}).
# As seqgra: 1,000 letters of i.i.d. background (seqgra's A/T 0.29565, C/G 0.20435), {kind}
# motifs inserted on the forward strand, a later instance overwriting an earlier one
# (overlap: allow), 70/10/20 split proportions; the training-set sizes come from the config.
# Written by generate.py beside this file; edit that, not this.
"""
BODY = """\
name: {name}
task: multi-class
alphabet: DNA
length: 1000
background: {{letters: {{A: 0.29565, C: 0.20435, G: 0.20435, T: 0.29565}}}}
overlap: allow
"""


# The HOMER motifs' full names as seqgra's definitions give them (the ChIP-seq they came from).
HOMER_SOURCES = {
    "FOXA1:AR": "FOXA1:AR(Forkhead,NR)/LNCAP-AR-ChIP-Seq(GSE27824)/Homer",
    "Bcl11a": "Bcl11a(Zf)/HSPC-BCL11A-ChIP-Seq(GSE104676)/Homer",
    "Brachyury": "Brachyury(T-box)/Mesoendoderm-Brachyury-ChIP-exo(GSE54963)/Homer",
    "CEBP:CEBP": "CEBP:CEBP(bZIP)/MEF-Chop-ChIP-Seq(GSE35681)/Homer",
    "Chop": "Chop(bZIP)/MEF-Chop-ChIP-Seq(GSE35681)/Homer",
    "CHR": "CHR(?)/Hela-CellCycle-Expression/Homer",
    "CTCF-SatelliteElement": "CTCF-SatelliteElement(Zf?)/CD4+-CTCF-ChIP-Seq(Barski_et_al.)/Homer",
    "Mouse_Recombination_Hotspot": "Mouse_Recombination_Hotspot(Zf)/Testis-DMC1-ChIP-Seq(GSE24438)/Homer",
    "RAR:RXR": "RAR:RXR(NR),DR5/ES-RAR-ChIP-Seq(GSE56893)/Homer",
    "DUX": "DUX(Homeobox)/C2C12-Dux-ChIP-Seq(GSE87279)/Homer",
}


class Motif:
    def __init__(self, name: str, label: str, width: int, element: str, note: str):
        self.name, self.label, self.width, self.element, self.note = (
            name, label, width, element, note)


def homer_motifs() -> list[Motif]:
    found = motifs.read_homer(HERE / "homer.motifs")
    consensus = {primary: alias for alias, (primary,) in found.aliases.items()}
    width = max(len(c) for c in consensus.values())
    return [Motif(name, consensus[name], len(ppm),
                  f"{{file: homer.motifs, format: homer, motif: {name}, strand: forward}}",
                  f"{consensus[name]:<{width}}  {HOMER_SOURCES[name]}")
            for name, ppm in found.items()]


def jaspar_motifs() -> list[Motif]:
    """The 50-class substitute for seqgra's HOMER set; see the module docstring."""
    sel = JASPAR_SELECTION
    by_name, seen = {}, set()
    for matrix_id, (tf, ppm) in motifs.jaspar_collection("CORE", "vertebrates").items():
        fits = (sel["min_width"] <= len(ppm) <= sel["max_width"]
                and motifs.information_content(ppm).sum() >= sel["min_bits"])
        if fits and tf.upper() not in seen:  # one matrix per TF (any case): the lowest ID
            seen.add(tf.upper())
            by_name[tf] = (matrix_id, ppm)
    chosen = motifs.dissimilar_subset({tf: ppm for tf, (_, ppm) in by_name.items()}, sel["n"],
                                      sel["max_similarity"], seed=sel["seed"])
    return [Motif(tf, by_name[tf][0], len(by_name[tf][1]),
                  f"{{jaspar: {by_name[tf][0]}, strand: forward}}",
                  f"{by_name[tf][0]}  {motifs.consensus(by_name[tf][1])}")
            for tf in chosen]


def _rule(elements, spacing=None) -> str:
    text = (f"      - elements: [{', '.join(elements)}]\n        position: random\n"
            "        probability: 1.0\n")
    if spacing:
        first, second, lo, hi = spacing
        text += (f"        spacing: [{{first: {first.name}, second: {second.name}, "
                 f"min_gap: {lo}, max_gap: {hi}, order: in-order}}]\n")
    return text


def _class(index: int, description: str, rule: str) -> str:
    return f"  c{index}:\n    description: \"{description}\"\n    rules:\n{rule}"


def _largest_gap(a: Motif, b: Motif) -> int:
    return LENGTH - a.width - b.width


def one_motif(pool: list[Motif], k: int):
    used = pool[:k]
    classes = [_class(i + 1, f"{m.name} ({m.label})", _rule([m.name])) for i, m in enumerate(used)]
    return used, classes, f"{k} classes, one {{kind}} motif each, anywhere in 1,000 letters."


def interaction(pool: list[Motif], k: int):
    used = pool[:k + 1] if k == 2 else pool[:k]  # a chain of 3 motifs at 2 classes, else a ring
    pairs = [(used[i], used[(i + 1) % len(used)]) for i in range(k)]
    classes = [_class(i + 1, f"{a.name} and {b.name}", _rule([a.name, b.name]))
               for i, (a, b) in enumerate(pairs)]
    shape = ("a chain of 3 motifs" if k == 2 else "cyclically")
    return used, classes, (f"{k} classes, each a pair of {{kind}} motifs anywhere in the sequence "
                           f"(motif i with motif i+1, {shape}): a class needs both of its "
                           "motifs, and every motif is shared with a neighbouring class.")


def interaction_spacing(pool: list[Motif], k: int):
    half = k // 2
    used = pool[:max(half, 2)]
    pairs = [(used[i], used[(i + 1) % len(used)]) for i in range(half)]
    near = [_class(i + 1, f"{a.name} then {b.name}, {NEAR_GAP[0]}-{NEAR_GAP[1]} letters apart",
                   _rule([a.name, b.name], (a, b, *NEAR_GAP))) for i, (a, b) in enumerate(pairs)]
    far = [_class(half + i + 1, f"{a.name} then {b.name}, {FAR_MIN_GAP}-{_largest_gap(a, b)} "
                  "letters apart", _rule([a.name, b.name], (a, b, FAR_MIN_GAP, _largest_gap(a, b))))
           for i, (a, b) in enumerate(pairs)]
    return used, near + far, (
        f"{k} classes from {half} {{kind}} motif pair(s) (motif i then motif i+1, cyclically over "
        f"{len(used)} motifs): each pair at a gap of 0-100 letters (c1..c{half}) or of 500 or "
        f"more (c{half + 1}..c{k}), so only the spacing tells a class from its twin.")


def interaction_order(pool: list[Motif], k: int):
    used = pool[:k]
    classes = []
    for i in range(0, k, 2):
        a, b = used[i], used[i + 1]
        for first, second in ((a, b), (b, a)):
            classes.append(_class(len(classes) + 1, f"{first.name} before {second.name}",
                                  _rule([first.name, second.name],
                                        (first, second, 0, _largest_gap(a, b)))))
    return used, classes, (f"{k} classes from {k // 2} disjoint {{kind}} motif pairs, each pair "
                           "in both orders (anywhere, any gap): only the order tells a class "
                           "from its twin.")


FAMILIES = {
    "": (one_motif, "one-motif-per-class panels of seqgra's predictive-performance and "
                    "grammar-recovery figures", "homer"),
    "interaction": (interaction, "interaction panels", "homer-interaction"),
    "interaction-spacing": (interaction_spacing, "interaction-with-spacing panels",
                            "homer-interaction-spacing"),
    "interaction-order": (interaction_order, "interaction-with-order panels",
                          "homer-interaction-order"),
}
# (motif set, family, classes): seqgra's XML covers homer-mc2, order-mc2 and spacing-mc20.
GRAMMARS = [("homer", "", 10), ("homer", "interaction", 2), ("homer", "interaction", 10),
            ("homer", "interaction-spacing", 2), ("homer", "interaction-spacing", 10),
            ("homer", "interaction-order", 10)] + [("jaspar", family, 50) for family in FAMILIES]


def grammar_text(kind: str, family: str, k: int, pool: list[Motif]) -> tuple[str, str]:
    build, panels, seqgra_stem = FAMILIES[family]
    name = "-".join(part for part in (kind, family, f"mc{k}") if part)
    used, classes, summary = build(pool, k)
    label = "HOMER" if kind == "homer" else "JASPAR"
    header = "# " + summary.format(kind=label) + "\n" + HEADER.format(
        panels=panels, seqgra_name=f"mc{k}-dna1000-{seqgra_stem}", kind=label)
    if kind == "homer":
        header += "# Motifs (homer.motifs beside this file; matrices as in seqgra's published definitions, MIT):\n"
    else:
        header += ("# Motifs: JASPAR 2026 CORE vertebrates (pyjaspar, offline) in place of seqgra's 50\n"
                   "# HOMER motifs, chosen as generate.py's docstring says:\n")
    width = max(len(m.name) for m in used)
    header += "".join(f"#   {m.name:<{width}}  {m.note}\n" for m in used)
    elements = "elements:\n" + "".join(f"  {m.name}: {m.element}\n" for m in used)
    text = (header + BODY.format(name=name) + elements + "classes:\n" + "".join(classes)
            + "splits: {train: 0.7, validation: 0.1, test: 0.2}\n")
    return f"{name}.yaml", text


def all_grammars() -> dict[str, str]:
    pools = {"homer": homer_motifs(), "jaspar": jaspar_motifs()}
    return dict(grammar_text(kind, family, k, pools[kind]) for kind, family, k in GRAMMARS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs from what would be written")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: here)")
    args = parser.parse_args(argv)
    stale = []
    for filename, text in all_grammars().items():
        path = args.out / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (rerun {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
