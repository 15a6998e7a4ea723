"""What a grid costs before it runs: `estimate.py` (the `estimate` command)."""
