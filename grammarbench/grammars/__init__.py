"""Grammars, the data definitions: the YAML language and its schema, seqgra's XML importer,
motif databases (MEME, JASPAR, HOMER, pyjaspar) and per-grammar diagnostics."""
