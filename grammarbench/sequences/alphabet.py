"""Alphabets and the integer letter codes every array in grammarbench uses.

A sequence is stored as ``uint8`` codes, one byte per letter, in the alphabet's order
(DNA: A=0, C=1, G=2, T=3). The code ``len(alphabet)`` marks an unknown letter ("N" or
"X") and the padding after the end of a shorter sequence; one-hot encoding turns it
into an all-zero column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Alphabet:
    """An ordered set of letters.

    Parameters
    ----------
    name: str
        ``"DNA"`` or ``"protein"``.
    letters: str
        The letters in code order.
    complement: str or None
        The complement of each letter (DNA only), used for reverse strands.
    """

    name: str
    letters: str
    complement: str | None = None

    @property
    def size(self) -> int:
        return len(self.letters)

    @property
    def unknown_code(self) -> int:
        """The code of an unknown letter and of padding."""
        return len(self.letters)

    def encode(self, text: str | bytes) -> np.ndarray:
        """Encode one sequence as ``uint8`` codes, shape=(len(text),).

        Case is ignored; letters outside the alphabet become ``unknown_code``.
        """
        raw = np.frombuffer(text.encode() if isinstance(text, str) else text, dtype=np.uint8)
        return self.encode_table[raw]

    def decode(self, codes: np.ndarray) -> str:
        """Decode ``uint8`` codes, shape=(L,), back to a string (unknown → N or X)."""
        return self.decode_table[np.asarray(codes, dtype=np.uint8)].tobytes().decode()

    @property
    def encode_table(self) -> np.ndarray:
        table = np.full(256, self.unknown_code, dtype=np.uint8)
        for code, letter in enumerate(self.letters):
            table[ord(letter)] = code
            table[ord(letter.lower())] = code
        return table

    @property
    def decode_table(self) -> np.ndarray:
        unknown = "N" if self.name == "DNA" else "X"
        table = np.frombuffer((self.letters + unknown).encode(), dtype=np.uint8)
        # codes past unknown_code (never written by us) decode as unknown, not as garbage
        return np.concatenate([table, np.full(256 - len(table), ord(unknown), dtype=np.uint8)])

    @property
    def complement_codes(self) -> np.ndarray:
        """Lookup table code → complementary code (unknown maps to unknown), shape=(size+1,)."""
        if self.complement is None:
            raise ValueError(f"the {self.name} alphabet has no complement")
        table = np.array([self.letters.index(c) for c in self.complement] + [self.unknown_code],
                         dtype=np.uint8)
        return table


DNA = Alphabet("DNA", "ACGT", complement="TGCA")
PROTEIN = Alphabet("protein", "ACDEFGHIKLMNPQRSTVWY")
ALPHABETS = {"DNA": DNA, "protein": PROTEIN}


def reverse_complement(codes: np.ndarray, alphabet: Alphabet = DNA) -> np.ndarray:
    """Reverse complement of codes along the last axis, shape=(..., L).

    Returns a new array; the input is unchanged.
    """
    return alphabet.complement_codes[codes[..., ::-1]]
