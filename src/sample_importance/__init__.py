"""Sample importance in SGD training: warm-up, importance scoring, biased continuation and baselines."""

__version__ = "0.1.0"
