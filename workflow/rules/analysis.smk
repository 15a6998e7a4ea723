# aggregate: tidy tables over all runs of this config; plots: the figures. Both run locally.


rule aggregate:
    input:
        runs=[f"{GRID.run_dir(r)}/run.json" for r in GRID.runs],
        metrics=[f"{GRID.run_dir(r)}/metrics.csv" for r in GRID.runs],
        importance=[f"{GRID.run_dir(r)}/importance/classes.csv" for r, s in GRID.runs.items() if s["staged"]],
    output:
        reported_tables(SUMMARY_FILES),
    params:
        runs=lambda wc, input: " ".join(shlex.quote(str(Path(f).parent)) for f in input.runs),
        out=lambda wc, output: str(Path(output[0]).parent),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/aggregate.log",
    localrule: True
    shell:
        "python -m sample_importance aggregate --out {params.out} {params.runs} 2> {log}"


rule plots:
    input:
        SUMMARY_FILES,
    output:
        reported_figures(FIGURE_FILES),
    params:
        summary=lambda wc, input: str(Path(input[0]).parent),
        figures=lambda wc, output: str(Path(output[0]).parent),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/plots.log",
    localrule: True
    shell:
        "python -m sample_importance plot --summary {params.summary} --out {params.figures} 2> {log}"
