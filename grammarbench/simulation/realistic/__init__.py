"""Realistic simulation from real regulatory DNA (issue 12): peak windows → motif scan →
filter → dinucleotide shuffle and re-implant → re-scan for the ground truth."""
