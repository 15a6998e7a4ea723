# aggregate: tidy tables over all runs of this config; plots: the figures. Both run locally.


rule aggregate:
    input:
        runs=[GRID.run_dir(r) + "/run.json" for r in GRID.runs],
        metrics=[GRID.run_dir(r) + "/metrics.csv" for r in GRID.runs],
        importance=[GRID.run_dir(r) + "/importance/classes.csv" for r, s in GRID.runs.items() if s["staged"]],
    output:
        SUMMARY_FILES,
    params:
        runs=" ".join(shlex.quote(GRID.run_dir(r)) for r in GRID.runs),
        out=f"{RESULTS}/summary",
    log:
        f"{RESULTS}/logs/aggregate.log",
    localrule: True
    shell:
        "{PY} aggregate --out {params.out} {params.runs} 2> {log}"


rule plots:
    input:
        SUMMARY_FILES,
    output:
        FIGURE_FILES,
    params:
        summary=f"{RESULTS}/summary",
    log:
        f"{RESULTS}/logs/plots.log",
    localrule: True
    shell:
        "{PY} plot --summary {params.summary} --out {FIGURES} 2> {log}"
