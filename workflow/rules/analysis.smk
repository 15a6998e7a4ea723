# aggregate: tidy tables over all runs of this config; claims: the papers' claims tested on them;
# plots: the figures; html_tables: the main tables as sortable pages for the report. All run locally.

from sample_importance.outputs import (
    claims_files,
    html_table_files,
    noise_figure_files,
    noise_files,
)

CLAIMS_FILES = claims_files(RESULTS)
HTML_TABLE_FILES = html_table_files(FIGURES)  # sortable pages of the main tables
NOISE_FILES = noise_files(config, RESULTS)  # empty unless a dataset has label_noise
NOISE_FIGURE_FILES = noise_figure_files(config, FIGURES)
SPEEDUP_TARGET_FRACTION = config["analysis"][
    "speedup_target_fraction"
]  # schema default 0.98
# the margins, level, power and correction every verdict uses (analysis/verdicts.py), as the steps' flags
_A = config["analysis"]
INFERENCE_FLAGS = " ".join(
    f"--{flag} {shlex.quote(str(value))}"
    for flag, value in (
        ("accuracy-margin", _A["margins"]["accuracy_points"]),
        ("speedup-margin", _A["margins"]["speedup_ratio"]),
        ("alpha", _A["alpha"]),
        ("power", _A["power"]),
        ("correction", _A["table_correction"]),
    )
)
SHOT_FLAGS = "--shot-thresholds {many:d} {few:d}".format(**_A["shot_thresholds"])


rule aggregate:
    input:
        runs=[f"{GRID.run_dir(r)}/run.json" for r in GRID.runs],
        metrics=[f"{GRID.run_dir(r)}/metrics.csv" for r in GRID.runs],
        importance=[
            f"{GRID.run_dir(r)}/importance/classes.csv"
            for r, s in GRID.runs.items()
            if s["staged"]
        ],
    output:
        reported_tables(SUMMARY_FILES),
    log:
        f"{RESULTS}/logs/aggregate.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        runs=lambda wc, input: " ".join(
            shlex.quote(str(Path(f).parent)) for f in input.runs
        ),
        out=lambda wc, output: str(Path(output[0]).parent),
        target=SPEEDUP_TARGET_FRACTION,
        inference=INFERENCE_FLAGS,
        shots=SHOT_FLAGS,
    shell:
        "exec python -m sample_importance aggregate --target-fraction {params.target} {params.inference}"
        " {params.shots} --out {params.out:q}"
        " {params.runs} 2> {log:q}"


rule claims:
    input:
        summary=SUMMARY_FILES,
        # importance.smk is included after this file: an input function reads its table list when the DAG is built
        importance=lambda wc: IMPORTANCE_TABLE_FILES,
        noise=NOISE_FILES,
    output:
        reported_claims(CLAIMS_FILES),
    log:
        f"{RESULTS}/logs/claims.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        summary=lambda wc, input: str(Path(input.summary[0]).parent),
        out=lambda wc, output: str(Path(output[0]).parent),
        inference=INFERENCE_FLAGS,
        # read only the tables this config makes: a noise or importance table of another config is never used
        sources=lambda wc, input: ("--noise" if input.noise else "--no-noise")
        + (" --importance" if input.importance else " --no-importance"),
    shell:
        "exec python -m sample_importance claims --summary {params.summary:q} --out {params.out:q}"
        " {params.inference} {params.sources} 2> {log:q}"


rule plots:
    input:
        SUMMARY_FILES,
    output:
        reported_figures(FIGURE_FILES),
    log:
        f"{RESULTS}/logs/plots.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        summary=lambda wc, input: str(Path(input[0]).parent),
        figures=lambda wc, output: str(Path(output[0]).parent),
    shell:
        "exec python -m sample_importance plot --summary {params.summary:q} --out {params.figures:q} 2> {log:q}"


rule html_tables:
    input:
        summary=SUMMARY_FILES,
        claims=CLAIMS_FILES,
    output:
        reported_html_tables(HTML_TABLE_FILES + latex_files(HTML_TABLE_FILES)),
    log:
        f"{RESULTS}/logs/html_tables.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        summary=lambda wc, input: str(Path(input.summary[0]).parent),
        out=lambda wc, output: str(Path(output[0]).parent),
    shell:
        "exec python -m sample_importance html-tables --summary {params.summary:q} --out {params.out:q} 2> {log:q}"


if NOISE_FILES:

    rule noise_tables:
        input:
            summary=SUMMARY_FILES,
            data=[data_file(d) for d in config["datasets"]],
            # importance.smk is included after this file: its warm-up list is read when the DAG is built
            records=lambda wc: WARMUP_RECORDS,
        output:
            reported_tables(NOISE_FILES),
        log:
            f"{RESULTS}/logs/noise_tables.log",
        localrule: True
        conda:
            CONDA_ENV
        params:
            summary=lambda wc, input: str(Path(input.summary[0]).parent),
            out=lambda wc, output: str(Path(output[0]).parent),
        shell:
            "exec python -m sample_importance noise-tables --summary {params.summary:q} --out {params.out:q}"
            " --data {input.data:q} --records {input.records:q} 2> {log:q}"

    rule noise_plots:
        input:
            summary=SUMMARY_FILES,
            noise=NOISE_FILES,
        output:
            reported_figures(NOISE_FIGURE_FILES),
        log:
            f"{RESULTS}/logs/noise_plots.log",
        localrule: True
        conda:
            CONDA_ENV
        params:
            summary=lambda wc, input: str(Path(input.noise[0]).parent),
            figures=lambda wc, output: str(Path(output[0]).parent),
        shell:
            "exec python -m sample_importance noise-plots --summary {params.summary:q} --out {params.figures:q} 2> {log:q}"
