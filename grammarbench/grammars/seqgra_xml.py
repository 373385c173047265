"""Read seqgra XML data definitions as grammar dicts of our YAML language.

seqgra (Krismer, Hammelman & Gifford, Bioinformatics 2022) describes a simulation in
an XML file checked against ``data-config.xsd``. :func:`read_seqgra_xml` turns such a
file into the same plain dict that a grammar YAML file parses to (see
``config/grammars/reference.yaml``), so seqgra's published grammars run unchanged;
``grammarbench.grammars.grammar.grammar_from_dict`` validates the result like any grammar.

How seqgra's constructs map (from the schema and seqgra's simulator source):

===============================================  ===============================================
seqgra XML                                       grammar dict
===============================================  ===============================================
``<general id>``                                 ``name``
``<general><name>``, ``<description>``           ``description`` ("name — description")
``<task>`` multi-class / multi-label             ``task: multi-class`` / ``multi-label``
  classification
``<sequencespace>`` DNA / protein                ``alphabet``
``<seed>``                                       ``seed``
``<minlength>``, ``<maxlength>``                 ``length`` (an int when equal, else [min, max])
``<alphabetdistribution>`` (no attributes)       ``background: {letters: ...}``
``<alphabetdistribution setname= cid=>``         ``backgrounds: [{split:, class:, letters:}]``
``<sequenceelement id>`` kmerbased               ``elements.<id>: {kmers: {kmer: p}}``
``<sequenceelement id>`` matrixbased             ``elements.<id>: {ppm: rows in alphabet order}``
``<condition id>`` label + description           ``classes.<id>.description`` ("label — ...")
``<mode>`` sequential / mutually exclusive       ``mode: sequential`` / ``mutually-exclusive``
``<rule>`` position random|start|center|end|n    ``position`` (n is 1-based → ``{fixed: n-1}``)
``<rule>`` probability, sequenceelementrefs      ``probability``, ``elements``
``<spacingconstraint sid1 sid2 min max order>``  ``spacing: [{first, second, min_gap, max_gap,
                                                 order}]`` (``random`` → ``either``)
``<set name>`` training / validation / test      ``train`` / ``validation`` / ``test``
``<example samples><conditionref cid>...``       ``composition.<split>: [{labels, weight}]``
                                                 and ``sizes.<split>`` = sum of samples
``<operation labels k>kmer-frequency-            one more composition entry per split:
preserving-shuffle``                             ``{shuffle_of, k, labels, weight}``; sizes x2
===============================================  ===============================================

seqgra's behaviour is kept where the language can say it: elements are inserted on
the forward strand, a later instance overwrites an earlier one (``overlap: allow``),
and the split proportions follow the sets' sizes. Where it cannot, the nearest
reading is taken and the docstrings of the helpers below say so.

Errors are :class:`grammarbench.errors.InputError` with an XPath-like key in which
list indices are 1-based, as in XPath and seqgra's own messages, and elements with
an id are addressed by it: ``conditions.condition[c2].grammar.rule[1].position``;
the problem ends with the line of the offending element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.parsers import expat

from grammarbench.sequences.alphabet import DNA, PROTEIN
from grammarbench.errors import InputError

_TASKS = {"multi-class classification": "multi-class",
          "multi-label classification": "multi-label"}
_SPACES = {"dna": DNA, "protein": PROTEIN}
_SETS = {"training": "train", "validation": "validation", "test": "test"}
_MODES = {"sequential": "sequential", "mutually exclusive": "mutually-exclusive"}
_ORDERS = {"in-order": "in-order", "random": "either"}
_POSITIONS = ("random", "start", "center", "end")
_SHUFFLE = "kmer-frequency-preserving-shuffle"


def read_seqgra_xml(path) -> dict:
    """Read a seqgra XML data definition as a grammar dict.

    Parameters
    ----------
    path: str or Path
        The seqgra data definition (``<seqgradata>``).

    Returns
    -------
    grammar: dict
        A grammar in our YAML language (keys ``name``, ``description``, ``task``,
        ``alphabet``, ``length``, ``seed``, ``background``, optionally
        ``backgrounds``, ``elements``, ``classes``, ``composition`` per split,
        ``splits``, ``sizes`` and ``overlap``), ready for
        ``grammarbench.grammars.grammar.grammar_from_dict(grammar, source=path)``.

    Raises
    ------
    InputError
        Unreadable or malformed XML (with line and column), or a structural problem:
        a missing element or attribute, a reference to an unknown condition or
        sequence element, a probability outside [0, 1], an unknown set name, task,
        position or mode (the key names the element, the problem its line).
    """
    return _Reader(path).grammar()


class _Reader:
    """One pass over one file; remembers each element's line for error messages."""

    def __init__(self, path):
        self.path = Path(path)
        self.lines: dict[int, int] = {}
        self.root = self._parse()

    # ------------------------------------------------------------------ XML plumbing

    def _parse(self) -> ET.Element:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise InputError(self.path, "", "seqgra data definition not found") from None
        except OSError as err:
            raise InputError(self.path, "", f"cannot read the file: {err}") from None
        # expat directly rather than ET.parse: ElementTree does not keep line numbers,
        # and a user fixing a 60 kB definition needs them
        builder = ET.TreeBuilder()
        parser = expat.ParserCreate()

        def start(tag, attrs):
            element = builder.start(_local(tag), {_local(k): v for k, v in attrs.items()})
            self.lines[id(element)] = parser.CurrentLineNumber

        parser.StartElementHandler = start
        parser.EndElementHandler = lambda tag: builder.end(_local(tag))
        parser.CharacterDataHandler = builder.data
        try:
            parser.Parse(data, True)
        except expat.ExpatError as err:
            raise InputError(self.path, f"line {err.lineno}, column {err.offset + 1}",
                             f"malformed XML: {expat.ErrorString(err.code)}") from None
        root = builder.close()
        if root.tag != "seqgradata":
            raise InputError(self.path, root.tag, "not a seqgra data definition: the root "
                                                  f"element is <{root.tag}>, not <seqgradata>")
        return root

    def error(self, key: str, problem: str, element: ET.Element | None = None) -> InputError:
        line = self.lines.get(id(element)) if element is not None else None
        return InputError(self.path, key, problem + (f" (line {line})" if line else ""))

    def only(self, parent: ET.Element, allowed, key: str) -> None:
        """Reject children of ``parent`` that the schema does not allow (typos, mostly)."""
        for child in parent:
            if child.tag not in allowed:
                raise self.error(f"{key}.{child.tag}" if key else child.tag,
                                 f"unexpected element <{child.tag}> in <{parent.tag}> "
                                 f"(allowed: {', '.join(allowed)})", child)

    def children(self, parent: ET.Element, tag: str, key: str,
                 minimum: int = 0) -> list[ET.Element]:
        """The ``tag`` children of ``parent``, and only those; at least ``minimum`` of them."""
        self.only(parent, (tag,), key)
        found = parent.findall(tag)
        if len(found) < minimum:
            raise self.error(f"{key}.{tag}", f"<{parent.tag}> needs at least {minimum} "
                                             f"<{tag}> element(s)", parent)
        return found

    def one(self, parent: ET.Element, tag: str, key: str, required: bool = True):
        found = parent.findall(tag)
        if len(found) > 1:
            raise self.error(f"{key}.{tag}", f"<{tag}> occurs {len(found)} times in "
                                             f"<{parent.tag}>; once is allowed", found[1])
        if not found:
            if required:
                raise self.error(f"{key}.{tag}", f"missing required element <{tag}> "
                                                 f"in <{parent.tag}>", parent)
            return None
        return found[0]

    def text(self, parent: ET.Element, tag: str, key: str, required: bool = True) -> str | None:
        element = self.one(parent, tag, key, required)
        return None if element is None else (element.text or "").strip()

    def unique_id(self, element: ET.Element, key: str, seen, what: str) -> tuple[str, str]:
        """The element's ``id`` and its key ``key[id]``; an id already in ``seen`` is an error."""
        eid = self.attr(element, "id", f"{key}.id")
        if eid in seen:
            raise self.error(f"{key}[{eid}]", f"{what} id {eid!r} is used twice", element)
        return eid, f"{key}[{eid}]"

    def attr(self, element: ET.Element, name: str, key: str) -> str:
        value = element.get(name)
        if value is None or not value.strip():
            raise self.error(key, f"<{element.tag}> lacks the required attribute {name}=", element)
        return value.strip()

    def number(self, text: str, key: str, element, kind=float, low=None, high=None,
               low_open: bool = False):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise self.error(key, f"{text!r} is not {'an integer' if kind is int else 'a number'}",
                             element) from None
        if value != value or (low is not None and (value < low or (low_open and value == low))) \
                or (high is not None and value > high):
            bound = f"{'(' if low_open else '['}{low}, {high}]" if high is not None else f">= {low}"
            raise self.error(key, f"{text} is outside {bound}", element)
        return value

    # ------------------------------------------------------------------ the sections

    def grammar(self) -> dict:
        root = self.root
        self.only(root, ("general", "background", "datageneration", "conditions",
                         "sequenceelements"), "")
        general = self.one(root, "general", "")
        self.only(general, ("name", "description", "task", "type", "sequencespace", "seed"),
                  "general")
        gid = self.attr(general, "id", "general.id")
        name = self.text(general, "name", "general", required=False) or ""
        description = self.text(general, "description", "general", required=False) or ""
        task_text = self.text(general, "task", "general", required=False)
        if task_text is None:  # seqgra before the <task> element called it <type>
            task_text = self.text(general, "type", "general")
        task = _TASKS.get(" ".join(task_text.lower().split()))
        if task is None:
            raise self.error("general.task", f"unknown task {task_text!r}; expected "
                             f"{' or '.join(repr(t) for t in _TASKS)}", general.find("task"))
        space_text = self.text(general, "sequencespace", "general")
        self.alphabet = _SPACES.get(space_text.lower())
        if self.alphabet is None:
            raise self.error("general.sequencespace", f"unknown sequence space {space_text!r}; "
                             "expected DNA or protein", general.find("sequencespace"))
        seed_parent, seed_key = general, "general"
        if general.find("seed") is None and root.find("datageneration/seed") is not None:
            seed_parent, seed_key = root.find("datageneration"), "datageneration"  # older seqgra
        seed = self.number(self.text(seed_parent, "seed", seed_key), f"{seed_key}.seed",
                           seed_parent.find("seed"), kind=int)

        background_section = self.one(root, "background", "")
        length = self.length(background_section)
        elements = self.sequence_elements(self.one(root, "sequenceelements", ""))
        classes = self.conditions(self.one(root, "conditions", ""), elements)
        background, backgrounds = self.background(background_section, classes)
        composition, sizes = self.datageneration(self.one(root, "datageneration", ""), classes)

        out: dict = {"name": gid,
                     "description": " — ".join(part for part in (name, description) if part)
                                    or f"imported from seqgra data definition {self.path.name}",
                     "task": task,
                     "alphabet": self.alphabet.name,
                     "length": length,
                     "seed": seed,
                     "background": background}
        if backgrounds:
            out["backgrounds"] = backgrounds
        out["elements"] = elements
        out["classes"] = classes
        out["composition"] = composition
        total = sum(sizes.values())
        out["splits"] = {split: size / total for split, size in sizes.items()}
        out["sizes"] = sizes
        # seqgra writes each element over whatever is there, earlier instances included
        out["overlap"] = "allow"
        return out

    def letters(self, parent: ET.Element, key: str) -> dict[str, float]:
        """``<letter probability=p>A</letter>``... → {letter: p}, alphabet order, 0 if absent."""
        found: dict[str, float] = {}
        for i, letter in enumerate(self.children(parent, "letter", key,
                                                 minimum=1), start=1):
            lkey = f"{key}.letter[{i}]"
            symbol = (letter.text or "").strip().upper()
            if len(symbol) != 1 or symbol not in self.alphabet.letters:
                raise self.error(lkey, f"{letter.text!r} is not a letter of the "
                                       f"{self.alphabet.name} alphabet ({self.alphabet.letters})",
                                 letter)
            if symbol in found:
                raise self.error(lkey, f"letter {symbol} is given twice", letter)
            found[symbol] = self.number(self.attr(letter, "probability", f"{lkey}.probability"),
                                        f"{lkey}.probability", letter, low=0.0, high=1.0)
        return {symbol: found.get(symbol, 0.0) for symbol in self.alphabet.letters}

    def sequence_elements(self, section: ET.Element) -> dict:
        elements: dict = {}
        for se in self.children(section, "sequenceelement", "sequenceelements", minimum=1):
            sid, key = self.unique_id(se, "sequenceelements.sequenceelement", elements, "sequence element")
            self.only(se, ("kmerbased", "matrixbased"), key)
            kinds = list(se)
            if len(kinds) != 1:
                raise self.error(key, "a sequence element holds exactly one of <kmerbased> or "
                                      "<matrixbased>", se)
            kind = kinds[0]
            if kind.tag == "kmerbased":
                kmers: dict[str, float] = {}
                kmer_elements = self.children(kind, "kmer", f"{key}.kmerbased", minimum=1)
                for i, kmer in enumerate(kmer_elements, start=1):
                    kkey = f"{key}.kmerbased.kmer[{i}]"
                    text = (kmer.text or "").strip().upper()
                    if not text or any(c not in self.alphabet.letters for c in text):
                        raise self.error(kkey, f"k-mer {kmer.text!r} is not a word over the "
                                               f"{self.alphabet.name} alphabet", kmer)
                    if text in kmers:
                        raise self.error(kkey, f"k-mer {text} is given twice", kmer)
                    kmers[text] = self.number(self.attr(kmer, "probability", f"{kkey}.probability"),
                                              f"{kkey}.probability", kmer, low=0.0, high=1.0)
                elements[sid] = {"kmers": kmers, "strand": "forward"}
            else:
                rows = []
                positions = self.children(kind, "position", f"{key}.matrixbased", minimum=1)
                for i, position in enumerate(positions, start=1):
                    rows.append(list(self.letters(position,
                                                  f"{key}.matrixbased.position[{i}]").values()))
                # published HOMER rows sum to 1 only within ~1e-3; passed through unchanged,
                # the grammar validator tolerates and renormalises them
                elements[sid] = {"ppm": rows, "strand": "forward"}
        return elements

    def conditions(self, section: ET.Element, elements: dict) -> dict:
        classes: dict = {}
        for condition in self.children(section, "condition", "conditions", minimum=1):
            cid, key = self.unique_id(condition, "conditions.condition", classes, "condition")
            self.only(condition, ("label", "description", "mode", "grammar"), key)
            label = self.text(condition, "label", key, required=False) or ""
            description = self.text(condition, "description", key, required=False) or ""
            entry: dict = {"description": " — ".join(p for p in (label, description) if p)
                                          or f"seqgra condition {cid}"}
            mode_text = self.text(condition, "mode", key, required=False)
            if mode_text is not None:
                mode = _MODES.get(" ".join(mode_text.lower().split()))
                if mode is None:
                    raise self.error(f"{key}.mode", f"unknown mode {mode_text!r}; expected "
                                                    "'sequential' or 'mutually exclusive'",
                                     condition.find("mode"))
                entry["mode"] = mode
            grammar = self.one(condition, "grammar", key)
            entry["rules"] = [self.rule(rule, f"{key}.grammar.rule[{i}]", elements)
                              for i, rule in enumerate(self.children(
                                  grammar, "rule", f"{key}.grammar", minimum=1),
                                  start=1)]
            classes[cid] = entry
        return classes

    def rule(self, rule: ET.Element, key: str, elements: dict) -> dict:
        self.only(rule, ("position", "probability", "sequenceelementrefs", "spacingconstraints"),
                  key)
        position_text = self.text(rule, "position", key)
        if position_text in _POSITIONS:
            position = position_text
        elif position_text.isdigit():
            # seqgra's integer positions are 1-based (it inserts at int(position) - 1)
            first = int(position_text)
            if first < 1:
                raise self.error(f"{key}.position", "a fixed position is 1-based and must be "
                                                    ">= 1", rule.find("position"))
            position = {"fixed": first - 1}
        else:
            raise self.error(f"{key}.position", f"unknown position {position_text!r}; expected "
                             "random, start, center, end or a 1-based integer",
                             rule.find("position"))
        probability = self.number(self.text(rule, "probability", key), f"{key}.probability",
                                  rule.find("probability"), low=0.0, high=1.0, low_open=True)
        refs = self.one(rule, "sequenceelementrefs", key)
        sids: list[str] = []
        for i, ref in enumerate(self.children(refs, "sequenceelementref",
                                              f"{key}.sequenceelementrefs", minimum=1),
                                start=1):
            rkey = f"{key}.sequenceelementrefs.sequenceelementref[{i}]"
            sid = self.attr(ref, "sid", f"{rkey}.sid")
            if sid not in elements:
                raise self.error(f"{rkey}.sid", f"unknown sequence element {sid!r} (defined: "
                                                f"{', '.join(elements)})", ref)
            # seqgra keys a rule's elements by sid, so a repeated reference inserts once
            if sid not in sids:
                sids.append(sid)
        out: dict = {"elements": sids, "position": position, "probability": probability}
        constraints = self.one(rule, "spacingconstraints", key, required=False)
        if constraints is not None:
            spacing = []
            for i, sc in enumerate(self.children(constraints, "spacingconstraint",
                                                 f"{key}.spacingconstraints", minimum=1),
                                   start=1):
                skey = f"{key}.spacingconstraints.spacingconstraint[{i}]"
                pair = []
                for attribute in ("sid1", "sid2"):
                    sid = self.attr(sc, attribute, f"{skey}.{attribute}")
                    if sid not in elements:
                        raise self.error(f"{skey}.{attribute}", f"unknown sequence element "
                                         f"{sid!r} (defined: {', '.join(elements)})", sc)
                    if sid not in sids:
                        raise self.error(f"{skey}.{attribute}", f"sequence element {sid!r} is "
                                         "not among the rule's sequenceelementrefs", sc)
                    pair.append(sid)
                low = self.number(self.attr(sc, "mindistance", f"{skey}.mindistance"),
                                  f"{skey}.mindistance", sc, kind=int, low=0)
                high = self.number(self.attr(sc, "maxdistance", f"{skey}.maxdistance"),
                                   f"{skey}.maxdistance", sc, kind=int, low=0)
                if high < low:
                    raise self.error(skey, f"maxdistance {high} is below mindistance {low}", sc)
                # early seqgra versions read the attribute as direction=
                order_text = sc.get("order", sc.get("direction"))
                if order_text is None:
                    raise self.error(f"{skey}.order", "<spacingconstraint> lacks the required "
                                                      "attribute order=", sc)
                order = _ORDERS.get(order_text.strip())
                if order is None:
                    raise self.error(f"{skey}.order", f"unknown order {order_text!r}; expected "
                                                      "in-order or random", sc)
                # seqgra draws the gap from [min, min(max, L - w1 - w2 - p)] in each example
                # of length L, p being a fixed 1-based position (else 0); a max beyond what
                # the longest sequence allows is clipped to that bound here, so that it reads
                # as what seqgra does rather than as an impossible constraint
                reach = (self.max_length - _min_width(elements[pair[0]])
                         - _min_width(elements[pair[1]])
                         - (position["fixed"] + 1 if isinstance(position, dict) else 0))
                if low <= reach < high:
                    high = reach
                spacing.append({"first": pair[0], "second": pair[1], "min_gap": low,
                                "max_gap": high, "order": order})
            out["spacing"] = spacing
        return out

    def length(self, section: ET.Element):
        """``length``: an int when minlength equals maxlength, else [min, max]."""
        self.only(section, ("minlength", "maxlength", "alphabetdistributions"), "background")
        low = self.number(self.text(section, "minlength", "background"), "background.minlength",
                          section.find("minlength"), kind=int, low=1)
        high = self.number(self.text(section, "maxlength", "background"), "background.maxlength",
                           section.find("maxlength"), kind=int, low=1)
        if high < low:
            raise self.error("background.maxlength", f"maxlength {high} is below minlength {low}",
                             section.find("maxlength"))
        self.max_length = high
        return low if low == high else [low, high]

    def background(self, section: ET.Element, classes: dict):
        """The alphabet distributions as ``background`` and ``backgrounds``.

        seqgra picks, for an example of condition c in set s: the (s, c) distribution,
        else the set-only one, else the condition-only one, else the global one. Set-only
        beating condition-only is written out as explicit (split, class) entries, so the
        result does not hang on how our language breaks that tie. When no distribution
        is global, seqgra draws one of them at random for each unlabelled example; the
        global background becomes their mean, which is that draw's letter marginal.
        """
        dists = self.one(section, "alphabetdistributions", "background")
        key0 = "background.alphabetdistributions"
        table: dict[tuple[str | None, str | None], dict[str, float]] = {}
        for i, dist in enumerate(self.children(dists, "alphabetdistribution", key0, minimum=1),
                                 start=1):
            key = f"{key0}.alphabetdistribution[{i}]"
            split = dist.get("setname")
            if split is not None:
                if split.strip() not in _SETS:
                    raise self.error(f"{key}.setname", f"unknown set name {split!r}; expected "
                                     f"{', '.join(_SETS)}", dist)
                split = _SETS[split.strip()]
            cid = dist.get("cid")
            if cid is not None:
                cid = cid.strip()
                if cid not in classes:
                    raise self.error(f"{key}.cid", f"unknown condition {cid!r} (defined: "
                                                   f"{', '.join(classes)})", dist)
            if (split, cid) in table:
                raise self.error(key, "a second alphabet distribution for the same set and "
                                      "condition", dist)
            table[(split, cid)] = self.letters(dist, key)

        if (None, None) in table:
            background = {"letters": table[(None, None)]}
        else:
            mean = {symbol: sum(d[symbol] for d in table.values()) / len(table)
                    for symbol in self.alphabet.letters}
            background = {"letters": mean}
        entries = []
        for (split, cid), letters in table.items():
            if (split, cid) == (None, None):
                continue
            entry = {}
            if cid is not None:
                entry["class"] = cid
            if split is not None:
                entry["split"] = split
            entry["letters"] = letters
            entries.append(entry)
        for (split, cid_none), letters in table.items():
            if split is None or cid_none is not None:
                continue
            for (split2, cid), _ in list(table.items()):
                if split2 is None and cid is not None and (split, cid) not in table:
                    entries.append({"class": cid, "split": split, "letters": letters})
        return background, entries

    def datageneration(self, section: ET.Element, classes: dict):
        self.only(section, ("sets", "postprocessing", "seed"), "datageneration")
        sets = self.one(section, "sets", "datageneration")
        composition: dict[str, list] = {}
        sizes: dict[str, int] = {}
        for set_element in self.children(sets, "set", "datageneration.sets",
                                         minimum=1):
            name = self.attr(set_element, "name", "datageneration.sets.set.name")
            key = f"datageneration.sets.set[{name}]"
            if name not in _SETS:
                raise self.error(f"{key}.name", f"unknown set name {name!r}; expected "
                                                f"{', '.join(_SETS)}", set_element)
            split = _SETS[name]
            if split in composition:
                raise self.error(key, f"set {name!r} is defined twice", set_element)
            entries = []
            examples = self.children(set_element, "example", key, minimum=1)
            for i, example in enumerate(examples, start=1):
                ekey = f"{key}.example[{i}]"
                samples = self.number(self.attr(example, "samples", f"{ekey}.samples"),
                                      f"{ekey}.samples", example, kind=int, low=1)
                labels: list[str] = []
                for j, ref in enumerate(self.children(example, "conditionref", ekey), start=1):
                    rkey = f"{ekey}.conditionref[{j}]"
                    cid = self.attr(ref, "cid", f"{rkey}.cid")
                    if cid not in classes:
                        raise self.error(f"{rkey}.cid", f"unknown condition {cid!r} (defined: "
                                                        f"{', '.join(classes)})", ref)
                    if cid in labels:
                        # seqgra would apply the condition's rules twice; a label set cannot
                        raise self.error(f"{rkey}.cid", f"condition {cid!r} is referenced twice "
                                                        "in one example", ref)
                    labels.append(cid)
                entries.append({"labels": labels, "weight": samples})
            composition[split] = entries
            sizes[split] = sum(entry["weight"] for entry in entries)
        missing = [name for name, split in _SETS.items() if split not in composition]
        if missing:
            raise self.error("datageneration.sets", f"missing <set name=...> for "
                                                    f"{', '.join(missing)}", sets)

        post = self.one(section, "postprocessing", "datageneration", required=False)
        if post is not None:
            operations = self.children(post, "operation", "datageneration.postprocessing",
                                       minimum=1)
            originals = {split: _unique([entry["labels"] for entry in entries])
                         for split, entries in composition.items()}
            for i, operation in enumerate(operations, start=1):
                self._shuffle(operation, f"datageneration.postprocessing.operation[{i}]",
                              classes, composition, sizes, originals)
        ordered = {split: composition[split] for split in _SETS.values()}
        return ordered, {split: sizes[split] for split in _SETS.values()}

    def _shuffle(self, operation, key, classes, composition, sizes, originals) -> None:
        """A k-let-preserving shuffle of every example of every set, appended to the set.

        seqgra's later operations shuffle the set including earlier shuffles; here they
        shuffle the originals, which is the same in distribution when the later k is no
        larger than the earlier one, and close otherwise.
        """
        name = (operation.text or "").strip()
        if name != _SHUFFLE:
            raise self.error(key, f"unknown postprocessing operation {name!r}; seqgra knows "
                                  f"only {_SHUFFLE!r}", operation)
        labels_text = operation.get("labels")
        if labels_text is None:
            raise self.error(f"{key}.labels", "<operation> lacks the required attribute labels=",
                             operation)
        labels = _unique([label.strip() for label in labels_text.split("|") if label.strip()])
        k = self.number(operation.get("k", "1"), f"{key}.k", operation, kind=int, low=1)
        for label in labels:
            # a label seqgra invents for the shuffles becomes a class with no grammar
            classes.setdefault(label, {"description": f"k-let-preserving shuffles (k={k}) of "
                                                      "examples (seqgra post-processing)",
                                       "background_only": True})
        for split, entries in composition.items():
            entries.append({"shuffle_of": [list(ls) for ls in originals[split]], "k": k,
                            "labels": list(labels), "weight": sizes[split]})
            sizes[split] *= 2


def _min_width(element: dict) -> int:
    """The fewest letters an instance of an element dict can have."""
    if "ppm" in element:
        return len(element["ppm"])
    return min(len(kmer) for kmer in element["kmers"])


def _local(name: str) -> str:
    """Drop a namespace prefix: ``xsi:type`` → ``type``."""
    return name.rsplit(":", 1)[-1]


def _unique(items: list) -> list:
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out
