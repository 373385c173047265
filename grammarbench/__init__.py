"""grammarbench: simulate regulatory grammars with known ground truth, train
neural networks on them, explain the networks and score the explanations."""

__version__ = "0.1.0"
