# prepare_data: one cached tensor file per dataset variant (imbalance applied to the training split),
# named <dataset>-<hash> where the hash covers the spec and, for an ImageFolder tree or archive, its
# content (provenance.dataset_hash): an edited source gets a new file and is prepared again.
#
# A cache that exists but cannot be read (truncated, garbled) would pass as done: Snakemake only sees
# that the file exists. It is found here at start-up (data.inspect.cache_problem: milliseconds, no
# torch) and rebuilt in place by the prepare-data step in `onstart`, before any job starts. The
# rebuilt file keeps the old one's modification time: it holds the same tensors (the name is their
# identity), so finished runs that read the file stay finished; deleting it instead would make
# Snakemake rerun every run that depends on it. `snakemake -n` only reports it.
import os
import subprocess

from sample_importance.data.inspect import cache_problem


wildcard_constraints:
    dataset=one_of(config["datasets"]),
    data_hash=r"[0-9a-f]{8}",


def prepare_data_command(dataset, out):
    spec = quoted_json(config["datasets"][dataset])
    return f"python -m sample_importance prepare-data --name {dataset} --spec {spec} --out {shlex.quote(out)}"


def unreadable_caches():
    """{cache path: (dataset, problem)} for the existing caches of this config that cannot be read."""
    found = {}
    for dataset in config["datasets"]:
        path = data_file(dataset)
        problem = cache_problem(path)
        if problem:
            found[path] = (dataset, problem)
    return found


def repair_caches(caches):
    """Rebuild unreadable caches in place with the prepare-data step, keeping each file's mtime."""
    for path, (dataset, problem) in caches.items():
        mtime = os.stat(path).st_mtime_ns
        log = Path(RESULTS) / "logs" / "prepare_data" / f"{Path(path).stem}.repair.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"Rebuilding {path}: {problem} (log: {log})", file=sys.stderr)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)}
        cmd = [sys.executable, "-m", "sample_importance", "prepare-data", "--name", dataset,
               "--spec", json.dumps(config["datasets"][dataset], sort_keys=True), "--out", path]
        with open(log, "w") as err:
            done = subprocess.run(cmd, stderr=err, env=env)
        if done.returncode != 0 or cache_problem(path):
            raise WorkflowError(f"could not rebuild {path} ({problem}); see {log}. "
                                f"Fix: delete it and run snakemake again, or run `{prepare_data_command(dataset, path)}`.")
        os.utime(path, ns=(mtime, mtime))


UNREADABLE_CACHES = unreadable_caches() if workflow.is_main_process else {}
for _path, (_dataset, _problem) in UNREADABLE_CACHES.items():
    print(f"Warning: {_problem}. It is rebuilt before any job starts (not in a dry run); "
          "finished runs that read it are kept.", file=sys.stderr)


onstart:
    repair_caches(UNREADABLE_CACHES)


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}-{{data_hash}}.pt",
    params:
        spec=lambda wc: quoted_json(config["datasets"][wc.dataset]),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}-{{data_hash}}.log",
    # downloads need the network, which compute nodes often lack: then this runs on the submit host
    localrule: any(spec["download"] for spec in config["datasets"].values())
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data/{{dataset}}-{{data_hash}}.tsv"
    resources:
        mem_mb=lambda wc, attempt: scaled(4000, attempt),
        runtime=lambda wc, attempt: scaled(20, attempt),
    shell:
        "python -m sample_importance prepare-data --name {wildcards.dataset} --spec {params.spec} --out {output} 2> {log}"
