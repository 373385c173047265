"""Sequences as ``uint8`` letter codes: alphabets, argument checks, the numba kernels
(shuffles, i.i.d. and Markov sampling, one-hot) and FASTA files."""
