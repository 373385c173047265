# __init__.py
# grammarbench.discovery: motif discovery from attribution maps, scored against the grammar.

"""Motif discovery from attribution maps (TF-MoDISco through modisco-lite), matched to
the grammar's elements with Tomtom (memelite) against JASPAR decoys, and scored: did
the model learn the motifs, and how many spurious ones does discovery report?

:func:`discover` / :func:`discover_from_maps` find patterns, :func:`match_patterns`
matches them, :func:`score_discovery` scores them.
"""

from .config import validate_discovery_config
from .matching import (MATCH_COLUMNS, benjamini_hochberg, decoy_motifs, element_motifs,
                       load_element_motifs, match_patterns, read_decoys, write_decoys)
from .modisco import (Discovery, Pattern, discover, discover_from_maps, modisco_settings,
                      read_maps)
from .scores import ALPHA, SCORE_COLUMNS, assign_patterns, score_discovery

__all__ = ["ALPHA", "Discovery", "MATCH_COLUMNS", "Pattern", "SCORE_COLUMNS",
           "assign_patterns", "benjamini_hochberg", "decoy_motifs", "discover",
           "discover_from_maps", "element_motifs", "load_element_motifs", "match_patterns", "modisco_settings",
           "read_decoys", "read_maps", "score_discovery", "validate_discovery_config",
           "write_decoys"]
