# Training: online methods in one rule (train); staged methods as warmup -> score -> continue;
# static pruning (el2n_prune) as warmup per score seed -> score_checkpoints -> train_pruned (a fresh run).
# Run folders: {RESULTS}/runs/<method>/<label>/<dataset>/<model>/<augmentation>/b<budget>-s<seed>-<hash>


wildcard_constraints:
    run=r"[^/]+/[^/]+/[^/]+/[^/]+/[^/]+",
    warmup=r"[^/]+/[^/]+/[^/]+/[^/]+",


rule train:
    input:
        data=lambda wc: data_file(run_spec(wc)["dataset"]),
    output:
        **run_outputs("{method}"),
    log:
        f"{RESULTS}/logs/train/{{method}}/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{method}}/{{run}}.tsv"
    wildcard_constraints:
        method=one_of(GRID.online_methods()),
    conda:
        CONDA_ENV
    threads: RES["cpus_per_task"]
    resources:
        **training_resources(lambda wc: run_spec(wc)),
    params:
        spec=lambda wc: quoted_json(run_spec(wc)),
        out=folder_of("run"),
    shell:
        "exec python -m sample_importance train --spec {params.spec} --data {input.data:q} --out {params.out:q}"
        " --no-progress --threads {threads} 2> {log:q}"


rule warmup:
    input:
        data=lambda wc: data_file(warmup_spec(wc)["dataset"]),
    output:
        checkpoint=f"{RESULTS}/warmups/{{warmup}}/checkpoint.pt",
        records=f"{RESULTS}/warmups/{{warmup}}/records.pt",
        run=f"{RESULTS}/warmups/{{warmup}}/run.json",
    log:
        f"{RESULTS}/logs/warmup/{{warmup}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/warmup/{{warmup}}.tsv"
    conda:
        CONDA_ENV
    threads: RES["cpus_per_task"]
    resources:
        **training_resources(lambda wc: warmup_spec(wc)),
    params:
        spec=lambda wc: quoted_json(warmup_spec(wc)),
        out=folder_of("run"),
    shell:
        "exec python -m sample_importance warmup --spec {params.spec} --data {input.data:q} --out {params.out:q}"
        " --no-progress --threads {threads} 2> {log:q}"


rule score:
    input:
        records=lambda wc: f"{GRID.warmup_dir(run_spec(wc)['score_warmup_id'])}/records.pt",
    output:
        weights=f"{RESULTS}/runs/{{method}}/{{run}}/importance/weights.npy",
        scores=f"{RESULTS}/runs/{{method}}/{{run}}/importance/scores.npy",
        classes=f"{RESULTS}/runs/{{method}}/{{run}}/importance/classes.csv",
        info=f"{RESULTS}/runs/{{method}}/{{run}}/importance/score.json",
    log:
        f"{RESULTS}/logs/score/{{method}}/{{run}}.log",
    wildcard_constraints:
        method=one_of(GRID.staged_methods()),
    conda:
        CONDA_ENV
    resources:
        mem_mb=lambda wc, attempt: scaled(2000, attempt),
        runtime=lambda wc, attempt: scaled(10, attempt),
    params:
        spec=lambda wc: quoted_json(run_spec(wc)),
        out=folder_of("weights"),
    shell:
        "exec python -m sample_importance score --spec {params.spec} --records {input.records:q} --out {params.out:q} 2> {log:q}"


rule continue:
    input:
        data=lambda wc: data_file(run_spec(wc)["dataset"]),
        checkpoint=lambda wc: f"{GRID.warmup_dir(run_spec(wc)['warmup_id'])}/checkpoint.pt",
        weights=f"{RESULTS}/runs/{{method}}/{{run}}/importance/weights.npy",
        info=f"{RESULTS}/runs/{{method}}/{{run}}/importance/score.json",
    output:
        **run_outputs("{method}"),
    log:
        f"{RESULTS}/logs/continue/{{method}}/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/continue/{{method}}/{{run}}.tsv"
    wildcard_constraints:
        method=one_of(GRID.staged_methods()),
    conda:
        CONDA_ENV
    threads: RES["cpus_per_task"]
    resources:
        **training_resources(lambda wc: run_spec(wc)),
    params:
        spec=lambda wc: quoted_json(run_spec(wc)),
        out=folder_of("run"),
        warmup=lambda wc, input: str(Path(input.checkpoint).parent),
        importance=lambda wc, input: str(Path(input.weights).parent),
    shell:
        "exec python -m sample_importance continue --spec {params.spec} --data {input.data:q} --warmup {params.warmup:q}"
        " --importance {params.importance:q} --out {params.out:q} --no-progress --threads {threads} 2> {log:q}"


rule score_checkpoints:
    input:
        data=lambda wc: data_file(run_spec(wc)["dataset"]),
        checkpoints=lambda wc: [
            f"{GRID.warmup_dir(w)}/checkpoint.pt"
            for w in run_spec(wc)["score_warmup_ids"]
        ],
    output:
        weights=f"{RESULTS}/runs/{{method}}/{{run}}/importance/weights.npy",
        kept=f"{RESULTS}/runs/{{method}}/{{run}}/importance/kept.npy",
        scores=f"{RESULTS}/runs/{{method}}/{{run}}/importance/scores.npy",
        classes=f"{RESULTS}/runs/{{method}}/{{run}}/importance/classes.csv",
        info=f"{RESULTS}/runs/{{method}}/{{run}}/importance/score.json",
    log:
        f"{RESULTS}/logs/score_checkpoints/{{method}}/{{run}}.log",
    wildcard_constraints:
        method=one_of(GRID.pruned_methods()),
    conda:
        CONDA_ENV
    threads: RES["cpus_per_task"]
    resources:
        **({"gpu": 1} if RES["gpu"] else {}),
        mem_mb=lambda wc, attempt: scaled(RES["mem_mb"], attempt),
        runtime=lambda wc, attempt: scaled(10, attempt),
        cpus_per_task=RES["cpus_per_task"],
    params:
        spec=lambda wc: quoted_json(run_spec(wc)),
        out=folder_of("weights"),
        warmups=lambda wc, input: " ".join(
            shlex.quote(str(Path(c).parent)) for c in input.checkpoints
        ),
    shell:
        "exec python -m sample_importance score-checkpoints --spec {params.spec} --data {input.data:q} --out {params.out:q}"
        " {params.warmups} 2> {log:q}"


rule train_pruned:
    input:
        data=lambda wc: data_file(run_spec(wc)["dataset"]),
        weights=f"{RESULTS}/runs/{{method}}/{{run}}/importance/weights.npy",
        info=f"{RESULTS}/runs/{{method}}/{{run}}/importance/score.json",
    output:
        **run_outputs("{method}"),
    log:
        f"{RESULTS}/logs/train_pruned/{{method}}/{{run}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_pruned/{{method}}/{{run}}.tsv"
    wildcard_constraints:
        method=one_of(GRID.pruned_methods()),
    conda:
        CONDA_ENV
    threads: RES["cpus_per_task"]
    resources:
        **training_resources(lambda wc: run_spec(wc)),
    params:
        spec=lambda wc: quoted_json(run_spec(wc)),
        out=folder_of("run"),
        importance=lambda wc, input: str(Path(input.weights).parent),
    shell:
        "exec python -m sample_importance train --spec {params.spec} --data {input.data:q} --importance {params.importance:q}"
        " --out {params.out:q} --no-progress --threads {threads} 2> {log:q}"
