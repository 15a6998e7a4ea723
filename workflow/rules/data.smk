# prepare_data: one cached tensor file per dataset variant (imbalance applied to the training split),
# named <dataset>-<hash> where the hash covers the spec and, for an ImageFolder tree or archive, its
# content (provenance.dataset_hash): an edited source gets a new file and is prepared again.
#
# A cache that exists but cannot be read (truncated, garbled) would pass as done: Snakemake only sees
# that the file exists. It is found here at start-up (data.inspect.cache_problem: milliseconds, no
# torch) and rebuilt in place by the prepare-data step in `onstart`, before any job starts. The
# rebuilt file keeps the damaged one's modification time: it holds the same tensors (the name is their
# identity), so runs finished after the damage stay finished; deleting it instead would make Snakemake
# rerun every run that depends on it. A damage by a write gave the file a new time, and the runs older
# than it rerun (mtime trigger): the warning counts them and says how to keep them. `snakemake -n` only reports it. The helpers
# (unreadable_caches, repair_caches) live in common.smk: Snakemake's linter wants no functions
# beside rules.
wildcard_constraints:
    dataset=one_of(config["datasets"]),
    data_hash=r"[0-9a-f]{8}",


UNREADABLE_CACHES = unreadable_caches() if workflow.is_main_process else {}
for _path, (_dataset, _problem) in UNREADABLE_CACHES.items():
    _rerun = runs_newer_cache(_path, _dataset)
    _kept = (
        f"{_rerun} finished run(s) and warm-up(s) that read it are older than the damaged file, so they run "
        "again (the rebuilt file keeps its time). To keep them instead (the rebuilt file holds the same "
        f"tensors), stop now and give it back an old time: `touch -d 2000-01-01 {_path}`, then start again."
        if _rerun
        else "finished runs that read it are kept (none is older than it)."
    )
    print(
        f"Warning: {_problem}. It is rebuilt before any job starts (not in a dry run); {_kept}",
        file=sys.stderr,
    )

# rebuilt by on_start (common.smk), the workflow's one onstart


rule prepare_data:
    output:
        f"{RESULTS}/data/{{dataset}}-{{data_hash}}.pt",
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}-{{data_hash}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data/{{dataset}}-{{data_hash}}.tsv"
    # downloads need the network, which compute nodes often lack: then this runs on the submit host
    localrule: any(spec["download"] for spec in config["datasets"].values())
    conda:
        CONDA_ENV
    resources:
        mem_mb=lambda wc, attempt: scaled(4000, attempt),
        runtime=lambda wc, attempt: scaled(20, attempt),
    params:
        spec=lambda wc: quoted_json(config["datasets"][wc.dataset]),
    shell:
        "exec python -m sample_importance prepare-data --name {wildcards.dataset:q} --spec {params.spec} --out {output:q} 2> {log:q}"
