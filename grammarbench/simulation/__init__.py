"""Stage 1, simulate: sequences from a grammar into the dataset layout (codes, labels,
ground-truth mask and instance table, manifest, exports)."""
