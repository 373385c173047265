"""Tests for grammarbench.grammars.seqgra_xml: seqgra XML data definitions as grammar dicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grammarbench.errors import InputError
from grammarbench.grammars.seqgra_xml import read_seqgra_xml

# the repository is checked out with shared/ beside it; config/grammars/seqgra holds copies
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "seqgra"
BUNDLED = Path(__file__).resolve().parents[1] / "config" / "grammars" / "seqgra"
REFERENCE = SHARED if SHARED.is_dir() else BUNDLED
MC2 = "mc2-dna1000-homer-100k-s1.xml"
ORDER = "mc2-dna1000-homer-interaction-order-100k-s1.xml"
SPACING = "mc20-dna1000-homer-interaction-spacing-100k-s1.xml"
SIZES = {"train": 70000, "validation": 10000, "test": 20000}
HOMER_BG = {"A": 0.29565, "C": 0.20435, "G": 0.20435, "T": 0.29565}
# widths of the HOMER motifs se1..se10 in the published definitions
WIDTHS = {"se1": 20, "se2": 12, "se3": 21, "se4": 20, "se5": 10, "se6": 10, "se7": 20,
          "se8": 20, "se9": 18, "se10": 15}


def reference(name: str) -> Path:
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"seqgra reference definition {name} not found in {SHARED} or {BUNDLED}")
    return path


# ------------------------------------------------------------------ published definitions


@pytest.mark.parametrize("name", [MC2, ORDER, SPACING])
def test_reference_common(name):
    d = read_seqgra_xml(reference(name))
    assert d["name"] == name[:-4]
    assert d["description"] == "default grammar name — default grammar description"
    assert d["task"] == "multi-class" and d["alphabet"] == "DNA"
    assert d["length"] == 1000 and d["seed"] == 1
    assert d["background"] == {"letters": HOMER_BG} and "backgrounds" not in d
    assert d["sizes"] == SIZES
    assert d["splits"] == pytest.approx({"train": 0.7, "validation": 0.1, "test": 0.2})
    assert d["overlap"] == "allow"
    for sid, element in d["elements"].items():
        assert element["strand"] == "forward"
        assert len(element["ppm"]) == WIDTHS[sid]
        rows = np.array(element["ppm"])
        assert rows.shape[1] == 4 and np.allclose(rows.sum(axis=1), 1, atol=1e-2)
    assert d["elements"]["se1"]["ppm"][0] == [0.571, 0.008, 0.138, 0.283]
    # the HOMER matrices pass through unchanged, not renormalised
    assert d["elements"]["se1"]["ppm"][6][1] == 0.6633366633366633
    for split, samples in zip(("train", "validation", "test"), (35000, 5000, 10000)):
        n = len(d["classes"])
        assert d["composition"][split] == [{"labels": [f"c{i}"], "weight": samples * 2 // n}
                                           for i in range(1, n + 1)]
    for cls in d["classes"].values():
        assert "mode" not in cls
        for rule in cls["rules"]:
            assert rule["position"] == "random" and rule["probability"] == 1.0


def test_reference_mc2_classes():
    d = read_seqgra_xml(reference(MC2))
    assert list(d["elements"]) == ["se1", "se2"]
    assert d["classes"] == {
        "c1": {"description": "AGTAAACAAAAAAGAACANA — "
                              "FOXA1:AR(Forkhead,NR)/LNCAP-AR-ChIP-Seq(GSE27824)/Homer",
               "rules": [{"elements": ["se1"], "position": "random", "probability": 1.0}]},
        "c2": {"description": "TYTGACCASWRG — Bcl11a(Zf)/HSPC-BCL11A-ChIP-Seq(GSE104676)/Homer",
               "rules": [{"elements": ["se2"], "position": "random", "probability": 1.0}]},
    }


def test_reference_interaction_order_spacing():
    d = read_seqgra_xml(reference(ORDER))
    c1, c2 = (d["classes"][c]["rules"][0] for c in ("c1", "c2"))
    assert c1["elements"] == c2["elements"] == ["se1", "se2"]
    # maxdistance 1000 cannot be reached in 1000 letters; seqgra clips it to L - w1 - w2
    assert c1["spacing"] == [{"first": "se1", "second": "se2", "min_gap": 0,
                              "max_gap": 1000 - 20 - 12, "order": "in-order"}]
    assert c2["spacing"] == [{"first": "se2", "second": "se1", "min_gap": 0,
                              "max_gap": 1000 - 20 - 12, "order": "in-order"}]


def test_reference_interaction_spacing():
    d = read_seqgra_xml(reference(SPACING))
    assert list(d["elements"]) == [f"se{i}" for i in range(1, 11)]
    assert list(d["classes"]) == [f"c{i}" for i in range(1, 21)]
    for i in range(1, 21):
        j = (i - 1) % 10 + 1
        first, second = f"se{j}", f"se{j % 10 + 1}"
        rule = d["classes"][f"c{i}"]["rules"][0]
        assert rule["elements"] == [first, second]
        low, high = (0, 100) if i <= 10 else (500, 1000 - WIDTHS[first] - WIDTHS[second])
        assert rule["spacing"] == [{"first": first, "second": second, "min_gap": low,
                                    "max_gap": high, "order": "in-order"}]


@pytest.mark.parametrize("name", [MC2, ORDER, SPACING])
def test_reference_passes_the_grammar_validator(name):
    grammar = pytest.importorskip("grammarbench.grammars.grammar")
    path = reference(name)
    g = grammar.grammar_from_dict(read_seqgra_xml(path), source=path)
    assert g.name == name[:-4] and g.sizes == SIZES


# ------------------------------------------------------------------ hand-written definitions

GENERAL = """<general id="toy">
    <name>toy</name><description>hand-written</description>
    <task>{task}</task><sequencespace>{space}</sequencespace><seed>7</seed>
  </general>"""
BACKGROUND = """<alphabetdistribution>
  <letter probability="0.25">A</letter><letter probability="0.25">C</letter>
  <letter probability="0.25">G</letter><letter probability="0.25">T</letter>
</alphabetdistribution>"""
SETS = """<sets>
  <set name="training"><example samples="60"><conditionref cid="c1"/></example></set>
  <set name="validation"><example samples="20"><conditionref cid="c1"/></example></set>
  <set name="test"><example samples="20"><conditionref cid="c1"/></example></set>
</sets>"""
CONDITIONS = """<condition id="c1"><label>one</label><description>first</description>
  <grammar><rule><position>random</position><probability>1.0</probability>
    <sequenceelementrefs><sequenceelementref sid="s1"/></sequenceelementrefs></rule></grammar>
</condition>"""
ELEMENTS = """<sequenceelement id="s1"><matrixbased>
  <position><letter probability="1.0">A</letter></position>
  <position><letter probability="0.5">C</letter><letter probability="0.5">G</letter></position>
</matrixbased></sequenceelement>"""


def toy(tmp_path, *, task="multi-class classification", space="DNA", minlength=50,
        maxlength=50, background=BACKGROUND, sets=SETS, postprocessing="",
        conditions=CONDITIONS, elements=ELEMENTS) -> Path:
    """Write a small seqgra definition with the given parts and return its path."""
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<seqgradata xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  {GENERAL.format(task=task, space=space)}
  <background><minlength>{minlength}</minlength><maxlength>{maxlength}</maxlength>
    <alphabetdistributions>{background}</alphabetdistributions></background>
  <datageneration>{sets}{postprocessing}</datageneration>
  <conditions>{conditions}</conditions>
  <sequenceelements>{elements}</sequenceelements>
</seqgradata>
"""
    path = tmp_path / "toy.xml"
    path.write_text(text)
    return path


def test_toy_defaults(tmp_path):
    d = read_seqgra_xml(toy(tmp_path))
    assert d["name"] == "toy" and d["description"] == "toy — hand-written"
    assert d["length"] == 50 and d["seed"] == 7
    # matrix letters in any subset: the missing ones are 0, columns in A C G T order
    assert d["elements"]["s1"] == {"ppm": [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]],
                                   "strand": "forward"}
    assert d["classes"]["c1"]["description"] == "one — first"
    assert d["sizes"] == {"train": 60, "validation": 20, "test": 20}
    assert d["splits"] == pytest.approx({"train": 0.6, "validation": 0.2, "test": 0.2})


def test_kmerbased_elements_and_length_range(tmp_path):
    elements = ELEMENTS + """<sequenceelement id="s2"><kmerbased>
      <kmer probability="0.7">cacgtg</kmer><kmer probability="0.3">CAGCTG</kmer>
    </kmerbased></sequenceelement>"""
    d = read_seqgra_xml(toy(tmp_path, elements=elements, minlength=40, maxlength=60))
    assert d["elements"]["s2"] == {"kmers": {"CACGTG": 0.7, "CAGCTG": 0.3}, "strand": "forward"}
    assert d["length"] == [40, 60]


def test_protein_definition(tmp_path):
    elements = """<sequenceelement id="s1"><kmerbased><kmer probability="1">WWK</kmer>
      </kmerbased></sequenceelement>"""
    background = "<alphabetdistribution>" + "".join(
        f'<letter probability="0.05">{a}</letter>' for a in "ACDEFGHIKLMNPQRSTVWY") + \
        "</alphabetdistribution>"
    d = read_seqgra_xml(toy(tmp_path, space="protein", elements=elements, background=background))
    assert d["alphabet"] == "protein" and list(d["background"]["letters"]) == list(
        "ACDEFGHIKLMNPQRSTVWY")


def test_per_set_and_per_condition_backgrounds(tmp_path):
    def letters(a):
        rest = (1 - a) / 3
        return dict(zip("ACGT", [a, rest, rest, rest]))

    def dist(attrs, a):
        rows = "".join(f'<letter probability="{p}">{x}</letter>' for x, p in letters(a).items())
        return f"<alphabetdistribution {attrs}>{rows}</alphabetdistribution>"

    conditions = CONDITIONS + CONDITIONS.replace('"c1"', '"c2"')
    background = (dist("", 0.25) + dist('setname="test"', 0.4) + dist('cid="c2"', 0.1)
                  + dist('setname="training" cid="c2"', 0.7))
    d = read_seqgra_xml(toy(tmp_path, conditions=conditions, background=background))
    assert d["background"] == {"letters": letters(0.25)}
    assert d["backgrounds"] == [
        {"split": "test", "letters": letters(0.4)},
        {"class": "c2", "letters": letters(0.1)},
        {"class": "c2", "split": "train", "letters": letters(0.7)},
        # seqgra prefers the set's distribution to the condition's: written out explicitly
        {"class": "c2", "split": "test", "letters": letters(0.4)},
    ]


def test_no_global_background_takes_the_mean(tmp_path):
    skewed = """<alphabetdistribution setname="validation">
      <letter probability="0.45">A</letter><letter probability="0.25">C</letter>
      <letter probability="0.25">G</letter><letter probability="0.05">T</letter>
    </alphabetdistribution>"""
    per_class = BACKGROUND.replace("<alphabetdistribution>", '<alphabetdistribution cid="c1">')
    d = read_seqgra_xml(toy(tmp_path, background=per_class + skewed))
    # seqgra draws one distribution per unlabelled example: the mean is the letter marginal
    assert d["background"]["letters"] == pytest.approx({"A": 0.35, "C": 0.25, "G": 0.25,
                                                        "T": 0.15})
    assert [(e.get("class"), e.get("split")) for e in d["backgrounds"]] == [
        ("c1", None), (None, "validation"), ("c1", "validation")]


def test_mutually_exclusive_mode_and_fixed_position(tmp_path):
    conditions = """<condition id="c1"><label>x</label><description/>
      <mode>mutually exclusive</mode>
      <grammar>
        <rule><position>5</position><probability>0.3</probability>
          <sequenceelementrefs><sequenceelementref sid="s1"/><sequenceelementref sid="s2"/>
          </sequenceelementrefs>
          <spacingconstraints><spacingconstraint sid1="s1" sid2="s2" mindistance="2"
            maxdistance="100" order="random"/></spacingconstraints></rule>
        <rule><position>center</position><probability>0.7</probability>
          <sequenceelementrefs><sequenceelementref sid="s1"/><sequenceelementref sid="s1"/>
          </sequenceelementrefs></rule>
      </grammar></condition>
      <condition id="c2"><label>y</label><description>z</description><mode>sequential</mode>
      <grammar><rule><position>end</position><probability>1</probability>
      <sequenceelementrefs><sequenceelementref sid="s2"/></sequenceelementrefs></rule></grammar>
      </condition>"""
    elements = ELEMENTS + ELEMENTS.replace('"s1"', '"s2"')
    d = read_seqgra_xml(toy(tmp_path, conditions=conditions, elements=elements))
    c1, c2 = d["classes"]["c1"], d["classes"]["c2"]
    assert c1["mode"] == "mutually-exclusive" and c2["mode"] == "sequential"
    assert c1["description"] == "x" and c2["description"] == "y — z"
    first, second = c1["rules"]
    # seqgra's position 5 is 1-based: the element starts at index 4
    assert first["position"] == {"fixed": 4} and first["probability"] == 0.3
    # order random = either order; the gap is clipped as seqgra clips it after position 5
    assert first["spacing"] == [{"first": "s1", "second": "s2", "min_gap": 2,
                                 "max_gap": 50 - 2 - 2 - 5, "order": "either"}]
    # a repeated reference inserts once in seqgra (elements are keyed by sid)
    assert second == {"elements": ["s1"], "position": "center", "probability": 0.7}
    assert c2["rules"] == [{"elements": ["s2"], "position": "end", "probability": 1.0}]


def test_multi_label_examples(tmp_path):
    conditions = CONDITIONS + CONDITIONS.replace('"c1"', '"c2"')
    sets = """<sets>
      <set name="training"><example samples="30"><conditionref cid="c1"/>
        <conditionref cid="c2"/></example><example samples="10"/></set>
      <set name="validation"><example samples="5"><conditionref cid="c2"/></example></set>
      <set name="test"><example samples="5"><conditionref cid="c1"/></example></set>
    </sets>"""
    d = read_seqgra_xml(toy(tmp_path, task="multi-label classification", sets=sets,
                            conditions=conditions))
    assert d["task"] == "multi-label"
    assert d["composition"] == {
        "train": [{"labels": ["c1", "c2"], "weight": 30}, {"labels": [], "weight": 10}],
        "validation": [{"labels": ["c2"], "weight": 5}],
        "test": [{"labels": ["c1"], "weight": 5}],
    }
    assert d["sizes"] == {"train": 40, "validation": 5, "test": 5}
    grammar = pytest.importorskip("grammarbench.grammars.grammar")
    grammar.grammar_from_dict(d, source=tmp_path / "toy.xml")


def test_postprocessing_shuffle(tmp_path):
    conditions = CONDITIONS + CONDITIONS.replace('"c1"', '"c2"')
    sets = SETS.replace('<example samples="60"><conditionref cid="c1"/></example>',
                        '<example samples="40"><conditionref cid="c1"/></example>'
                        '<example samples="20"><conditionref cid="c2"/></example>')
    post = """<postprocessing><operation labels="c3" k="2">kmer-frequency-preserving-shuffle
      </operation></postprocessing>"""
    d = read_seqgra_xml(toy(tmp_path, sets=sets, postprocessing=post, conditions=conditions))
    assert d["composition"]["train"][-1] == {"shuffle_of": [["c1"], ["c2"]], "k": 2,
                                             "labels": ["c3"], "weight": 60}
    assert d["composition"]["test"][-1] == {"shuffle_of": [["c1"]], "k": 2, "labels": ["c3"],
                                            "weight": 20}
    assert d["sizes"] == {"train": 120, "validation": 40, "test": 40}
    # a label invented for the shuffles becomes a class made of background alone
    assert d["classes"]["c3"]["background_only"] is True and "rules" not in d["classes"]["c3"]
    grammar = pytest.importorskip("grammarbench.grammars.grammar")
    grammar.grammar_from_dict(d, source=tmp_path / "toy.xml")


def test_two_shuffle_operations_double_twice(tmp_path):
    post = """<postprocessing>
      <operation labels="c1">kmer-frequency-preserving-shuffle</operation>
      <operation labels="c1|neg" k="3">kmer-frequency-preserving-shuffle</operation>
    </postprocessing>"""
    d = read_seqgra_xml(toy(tmp_path, task="multi-label classification", postprocessing=post))
    train = d["composition"]["train"]
    assert train[1] == {"shuffle_of": [["c1"]], "k": 1, "labels": ["c1"], "weight": 60}
    assert train[2] == {"shuffle_of": [["c1"]], "k": 3, "labels": ["c1", "neg"], "weight": 120}
    assert d["sizes"] == {"train": 240, "validation": 80, "test": 80}
    assert d["classes"]["neg"]["background_only"] is True


# ------------------------------------------------------------------ errors


def fails(path) -> InputError:
    with pytest.raises(InputError) as err:
        read_seqgra_xml(path)
    assert err.value.source == str(path)
    return err.value


def test_malformed_xml(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("<seqgradata>\n  <general id='x'>\n</seqgradata>\n")
    err = fails(path)
    assert err.key == "line 3, column 3" and "malformed XML: mismatched tag" in err.problem


def test_missing_file_and_wrong_root(tmp_path):
    assert "not found" in fails(tmp_path / "missing.xml").problem
    path = tmp_path / "model.xml"
    path.write_text("<seqgramodel/>")
    assert "not a seqgra data definition" in fails(path).problem


def test_unknown_sid(tmp_path):
    path = toy(tmp_path, conditions=CONDITIONS.replace('sid="s1"', 'sid="s9"'))
    err = fails(path)
    assert err.key == ("conditions.condition[c1].grammar.rule[1].sequenceelementrefs"
                       ".sequenceelementref[1].sid")
    assert "unknown sequence element 's9' (defined: s1)" in err.problem
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "s9" in text)
    assert err.problem.endswith(f"(line {line})")


def test_unknown_cid(tmp_path):
    err = fails(toy(tmp_path, sets=SETS.replace('<conditionref cid="c1"/></example></set>\n  '
                                                '<set name="test">',
                                                '<conditionref cid="c7"/></example></set>\n  '
                                                '<set name="test">')))
    assert err.key == "datageneration.sets.set[validation].example[1].conditionref[1].cid"
    assert "unknown condition 'c7' (defined: c1)" in err.problem
    background = BACKGROUND.replace("<alphabetdistribution>", '<alphabetdistribution cid="c4">')
    err = fails(toy(tmp_path, background=background))
    assert err.key == "background.alphabetdistributions.alphabetdistribution[1].cid"


def test_probability_outside_unit_interval(tmp_path):
    err = fails(toy(tmp_path, elements=ELEMENTS.replace('"0.5">C', '"1.5">C')))
    assert err.key == ("sequenceelements.sequenceelement[s1].matrixbased.position[2].letter[1]"
                       ".probability")
    assert "1.5 is outside [0.0, 1.0]" in err.problem
    err = fails(toy(tmp_path, background=BACKGROUND.replace('"0.25">G', '"1.5">G')))
    assert err.key == ("background.alphabetdistributions.alphabetdistribution[1].letter[3]"
                       ".probability")
    err = fails(toy(tmp_path, conditions=CONDITIONS.replace("<probability>1.0", "<probability>0")))
    assert err.key == "conditions.condition[c1].grammar.rule[1].probability"
    assert "outside (0.0, 1.0]" in err.problem
    err = fails(toy(tmp_path, conditions=CONDITIONS.replace("<probability>1.0",
                                                            "<probability>high")))
    assert "'high' is not a number" in err.problem


@pytest.mark.parametrize("part, old, new, key, problem", [
    ("sets", 'name="validation"', 'name="valid"', "datageneration.sets.set[valid].name",
     "unknown set name 'valid'"),
    ("sets", 'name="validation"', 'name="test"', "datageneration.sets.set[test]",
     "defined twice"),
    ("conditions", "<position>random", "<position>middle",
     "conditions.condition[c1].grammar.rule[1].position", "unknown position 'middle'"),
    ("conditions", "<position>random", "<position>0",
     "conditions.condition[c1].grammar.rule[1].position", "1-based"),
    ("conditions", "<probability>1.0</probability>", "",
     "conditions.condition[c1].grammar.rule[1].probability", "missing required element"),
    ("conditions", "<label>one</label>", "<lable>one</lable>",
     "conditions.condition[c1].lable", "unexpected element <lable>"),
    ("conditions", '<condition id="c1">', "<condition>", "conditions.condition.id",
     "lacks the required attribute id="),
    ("sets", 'samples="60"', "", "datageneration.sets.set[training].example[1].samples",
     "lacks the required attribute samples="),
    ("sets", 'samples="60"', 'samples="0"', "datageneration.sets.set[training].example[1].samples",
     "outside"),
    ("elements", "<matrixbased>", "<kmerbased></kmerbased><matrixbased>",
     "sequenceelements.sequenceelement[s1]", "exactly one of"),
    ("elements", '">A</letter>', '">U</letter>',
     "sequenceelements.sequenceelement[s1].matrixbased.position[1].letter[1]",
     "not a letter of the DNA alphabet"),
])
def test_structural_errors(tmp_path, part, old, new, key, problem):
    parts = {"sets": SETS, "conditions": CONDITIONS, "elements": ELEMENTS}
    assert old in parts[part]
    err = fails(toy(tmp_path, **{part: parts[part].replace(old, new, 1)}))
    assert err.key == key and problem in err.problem


def test_more_structural_errors(tmp_path):
    err = fails(toy(tmp_path, task="regression"))
    assert err.key == "general.task" and "unknown task 'regression'" in err.problem
    err = fails(toy(tmp_path, space="RNA"))
    assert err.key == "general.sequencespace"
    err = fails(toy(tmp_path, minlength=60, maxlength=50))
    assert err.key == "background.maxlength"
    err = fails(toy(tmp_path, elements=ELEMENTS + ELEMENTS))
    assert err.key == "sequenceelements.sequenceelement[s1]" and "used twice" in err.problem
    err = fails(toy(tmp_path, sets=SETS.replace('<set name="test">', '<set name="training">')))
    assert "defined twice" in err.problem
    err = fails(toy(tmp_path, sets=SETS.replace('name="test"', 'name="test" ').replace(
        '<set name="test" ><example samples="20"><conditionref cid="c1"/></example></set>', "")))
    assert err.key == "datageneration.sets" and "missing <set name=...> for test" in err.problem
    err = fails(toy(tmp_path, background=BACKGROUND + BACKGROUND))
    assert err.key == "background.alphabetdistributions.alphabetdistribution[2]"
    err = fails(toy(tmp_path, postprocessing="<postprocessing><operation labels='c1'>reverse"
                                             "</operation></postprocessing>"))
    assert err.key == "datageneration.postprocessing.operation[1]"
    assert "unknown postprocessing operation 'reverse'" in err.problem
    err = fails(toy(tmp_path, postprocessing="<postprocessing><operation labels='c1' k='0'>"
                                             "kmer-frequency-preserving-shuffle</operation>"
                                             "</postprocessing>"))
    assert err.key == "datageneration.postprocessing.operation[1].k"


def test_spacing_constraint_errors(tmp_path):
    def rule(constraint):
        return CONDITIONS.replace("</sequenceelementrefs>",
                                  "</sequenceelementrefs><spacingconstraints>"
                                  f"<spacingconstraint {constraint}/></spacingconstraints>")

    key = "conditions.condition[c1].grammar.rule[1].spacingconstraints.spacingconstraint[1]"
    elements = ELEMENTS + ELEMENTS.replace('"s1"', '"s2"')
    err = fails(toy(tmp_path, elements=elements, conditions=rule(
        'sid1="s1" sid2="s3" mindistance="0" maxdistance="5" order="in-order"')))
    assert err.key == f"{key}.sid2" and "unknown sequence element 's3'" in err.problem
    err = fails(toy(tmp_path, elements=elements, conditions=rule(
        'sid1="s1" sid2="s2" mindistance="0" maxdistance="5" order="in-order"')))
    assert err.key == f"{key}.sid2" and "not among the rule's" in err.problem
    err = fails(toy(tmp_path, conditions=rule(
        'sid1="s1" sid2="s1" mindistance="9" maxdistance="5" order="in-order"')))
    assert err.key == key and "maxdistance 5 is below mindistance 9" in err.problem
    err = fails(toy(tmp_path, conditions=rule(
        'sid1="s1" sid2="s1" mindistance="0" maxdistance="5" order="sideways"')))
    assert err.key == f"{key}.order" and "unknown order 'sideways'" in err.problem
    err = fails(toy(tmp_path, conditions=rule(
        'sid1="s1" sid2="s1" mindistance="0" maxdistance="5"')))
    assert err.key == f"{key}.order" and "lacks the required attribute order=" in err.problem
