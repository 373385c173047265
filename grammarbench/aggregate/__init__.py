"""Stage 5, aggregate: the grid's tidy tables, the report's figures and its run-config page."""
