"""The experiment grid: every run, warm-up and path a validated config implies.

Run folders are named from the run's coordinates plus a short hash of every
setting that changes its numbers, so results of different configs never
overwrite each other, and the same settings always land in the same folder.
Warm-ups are shared by every staged method with the same dataset, model,
augmentation, budget, seed and warm-up length: the warm-up is plain uniform SGD,
whatever is scored from it afterwards. A static-pruning method (class attribute
`static`, e.g. el2n_prune) is scored from one warm-up per seed of its
`score_seeds`, each at budget 1.0 (the full schedule, as Data Diet's scoring
runs), so they are shared across budgets and with staged methods' budget-1.0
warm-ups of the same length; its run then trains a fresh model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .provenance import run_hash


@dataclass
class Grid:
    results: str
    figures: str
    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> run spec
    warmups: dict[str, dict] = field(default_factory=dict)  # warmup_id -> warm-up spec

    def run_dir(self, run_id: str) -> str:
        return f"{self.results}/runs/{self.runs[run_id]['method']}/{run_id}"

    def warmup_dir(self, warmup_id: str) -> str:
        return f"{self.results}/warmups/{warmup_id}"

    def staged_methods(self) -> list[str]:
        return sorted({s["method"] for s in self.runs.values() if s["staged"]})

    def pruned_methods(self) -> list[str]:
        """Static-pruning methods: score step over `score_warmup_ids`, then a fresh training on the kept subset."""
        return sorted({s["method"] for s in self.runs.values() if "score_warmup_ids" in s})

    def scorings(self) -> list[str]:
        """'label:metric:smoothing' of each staged method that samples by smoothed scores (importance tables)."""
        from .methods import method_class

        found = {}
        for s in self.runs.values():
            cls = method_class(s["method"])
            params = {**cls.defaults, **s["method_params"]}
            if s["staged"] and "smoothing" in params and "metric" in params and getattr(cls, "draws_by_scores", True):
                found[s["label"]] = f"{s['label']}:{params['metric']}:{float(params['smoothing']):g}"
        return sorted(found.values())

    def online_methods(self) -> list[str]:
        return sorted({s["method"] for s in self.runs.values() if not s["staged"] and "score_warmup_ids" not in s})


def _fmt(value: float) -> str:
    return f"{value:g}"


def expand(config: dict) -> Grid:
    """All runs of a validated config (see config.validate)."""
    from .methods import method_class

    grid = Grid(config["output"]["results"].rstrip("/"), config["output"]["figures"].rstrip("/"))
    transfer = config.get("importance_from") or ""
    combos = itertools.product(config["datasets"].items(), config["models"], config["augmentations"],
                               config["budgets"], config["seeds"])
    for (dataset, dspec), model, aug, budget, seed in combos:
        base = {"dataset": dataset, "dataset_spec": dspec, "model": model, "augmentation": aug,
                "budget": budget, "seed": seed, "train": config["train"]}
        for label, entry in config["methods"].items():
            params = {k: v for k, v in entry.items() if k != "method"}
            cls = method_class(entry["method"])
            staged, static = cls.staged, getattr(cls, "static", False)
            variants = [(label, model)]
            if staged and transfer and transfer != model:
                variants.append((f"{label}_from_{transfer}", transfer))
            for run_label, score_model in variants:
                spec = {**base, "label": run_label, "method": entry["method"], "method_params": params, "staged": staged}
                if staged:
                    spec["warmup_id"] = _add_warmup(grid, base, model, params["warmup_epochs"])
                    spec["importance_from"] = score_model
                    spec["score_warmup_id"] = _add_warmup(grid, base, score_model, params["warmup_epochs"])
                if static:
                    spec["score_warmup_ids"] = _scoring_warmups(grid, base, model, params, config["train"]["epochs"], label)
                run_id = f"{run_label}/{dataset}/{model}/{aug}/b{_fmt(budget)}-s{seed}-{run_hash(spec)}"
                spec["run_id"] = run_id
                grid.runs[run_id] = spec
    return grid


def _add_warmup(grid: Grid, base: dict, model: str, epochs: int) -> str:
    spec = {**base, "model": model, "label": "warmup", "method": "uniform", "method_params": {},
            "warmup_epochs": int(epochs), "staged": False}
    warmup_id = f"{base['dataset']}/{model}/{base['augmentation']}/b{_fmt(base['budget'])}-s{base['seed']}-E{epochs}-{run_hash(spec)}"
    spec["run_id"] = warmup_id
    grid.warmups[warmup_id] = spec
    return warmup_id


def _scoring_warmups(grid: Grid, base: dict, model: str, params: dict, epochs: int, label: str) -> list[str]:
    """One shared warm-up of `warmup_epochs` epochs per score seed, at the full schedule (budget 1.0)."""
    from .config import ConfigError

    if params["warmup_epochs"] > epochs:
        raise ConfigError(f"config field `methods.{label}.warmup_epochs` = {params['warmup_epochs']}: the scoring "
                          f"checkpoints sit at that epoch of a full schedule of only {epochs} epochs. "
                          f"Fix: use warmup_epochs <= train.epochs ({epochs}).")
    return [_add_warmup(grid, {**base, "budget": 1.0, "seed": int(s)}, model, params["warmup_epochs"])
            for s in params["score_seeds"]]
