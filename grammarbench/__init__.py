"""grammarbench: simulate regulatory grammars with known ground truth, train
neural networks on them, explain the networks and score the explanations."""

import sys as _sys

__version__ = "0.1.0"

# Inside a Snakemake rule script (its `snakemake` object is a global of __main__), Ctrl-C
# gives one line in the job's log, not a traceback: installed here, before the script's
# first heavy import, so an interrupt while importing is quiet too. Notebooks and other
# importers are left alone.
if getattr(_sys.modules.get("__main__"), "snakemake", None) is not None:
    from grammarbench.errors import quiet_interrupts

    quiet_interrupts()
