"""The papers' grid (config/paper.yaml) dry-runs with the job counts its grid arithmetic implies.

Runs the one documented line, `snakemake -n --configfile config/paper.yaml`, as a
user would (nothing is downloaded or trained), and checks every rule's job count
against counts computed here from the config: a wrong count means runs are
missing, duplicated, or leaking in from another config.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from sample_importance.methods import method_class

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"


def expected_jobs(config: dict) -> dict[str, int]:
    groups = len(config["datasets"]) * len(config["models"]) * len(config["augmentations"])
    cells = groups * len(config["budgets"]) * len(config["seeds"])
    param = lambda entry, key: entry.get(key, method_class(entry["method"]).defaults[key])  # noqa: E731
    staged = [e for e in config["methods"].values() if method_class(e["method"]).staged]
    pruned = [e for e in config["methods"].values() if method_class(e["method"]).static]
    online = len(config["methods"]) - len(staged) - len(pruned)
    # warm-ups are shared when they are the same run (budget, seed, length E); static pruning scores from
    # budget-1.0 warm-ups, one per score seed, shared over its budgets and seeds
    warmups = {(b, s, param(e, "warmup_epochs")) for e in staged for b in config["budgets"] for s in config["seeds"]}
    warmups |= {(1.0, s, param(e, "warmup_epochs")) for e in pruned for s in param(e, "score_seeds")}
    return {"prepare_data": len(config["datasets"]), "train": cells * online, "warmup": groups * len(warmups),
            "score": cells * len(staged), "continue": cells * len(staged), "score_checkpoints": cells * len(pruned),
            "train_pruned": cells * len(pruned), "aggregate": 1, "plots": 1, "all": 1}


def dry_run_job_counts(configfile: Path) -> dict[str, int]:
    """Job counts per rule, and 'total', from the dry run's job stats table."""
    snakemake = Path(sys.executable).parent / "snakemake"
    result = subprocess.run(
        [str(snakemake), "-n", "--nolock", "--quiet", "rules", "--configfile", str(configfile)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    table = output.split("Job stats:", 1)[1].split("total", 1)
    counts = {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table[0], flags=re.M)}
    counts["total"] = int(table[1].split()[0])
    return counts


def test_paper_config_has_the_papers_grid():
    config = yaml.safe_load(PAPER.read_text())
    assert sorted(config["budgets"]) == [0.2, 0.3, 0.5, 1.0]
    assert config["augmentations"] == ["standard", "randaugment", "mixup", "ricap"]
    assert len(config["seeds"]) >= 3 and config["models"] == ["resnet18"]
    assert {d["source"] for d in config["datasets"].values()} == {"cifar10", "cifar100"}
    warmups = sorted({e["warmup_epochs"] for e in config["methods"].values() if e["method"] == "biased"})
    assert warmups == [5, 10]
    assert (config["train"]["epochs"], config["train"]["batch_size"], config["train"]["lr"]) == (200, 128, 0.1)


def test_paper_grid_dry_run_job_counts():
    config = yaml.safe_load(PAPER.read_text())
    expected = expected_jobs(config)
    counts = dry_run_job_counts(PAPER)
    total = counts.pop("total")
    assert {rule: counts.get(rule) for rule in expected} == expected, (
        "more jobs than the grid implies may mean config.yaml's entries leak into a --configfile run")
    # any other rule (tables, figures over all runs) runs once per config
    assert {rule: n for rule, n in counts.items() if rule not in expected} == {
        rule: 1 for rule in counts if rule not in expected}
    assert total == sum(counts.values())
