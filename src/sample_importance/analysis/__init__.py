"""Analysis layer: tidy tables from finished runs, statistics over seeds, the papers' claims."""
