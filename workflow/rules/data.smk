# prepare_data: one cached tensor file per dataset variant (imbalance applied to the training split),
# named <dataset>-<hash of its spec> (provenance.dataset_hash).


wildcard_constraints:
    dataset=one_of(config["datasets"]),
    data_hash=r"[0-9a-f]{8}",


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
