"""Figures layer: every plot, drawn from the summary tables only."""
