# The importance itself: tables from the warm-up records (importance_tables) and the figures of
# easy/hard samples, distributions, model dependence, score agreement, class balance over time and
# the methods table (importance_plots); figures/README.md of every figure (figures_readme). No training:
# seconds on a CPU. All run locally.

from sample_importance.outputs import importance_figure_files, importance_files

WARMUP_RECORDS = [f"{GRID.warmup_dir(w)}/records.pt" for w in GRID.warmups]
IMPORTANCE_TABLE_FILES = importance_files(RESULTS) if GRID.warmups else []
IMPORTANCE_FIGURE_FILES = importance_figure_files(
    config, FIGURES, with_warmups=bool(GRID.warmups)
)
FIGURES_README = f"{FIGURES}/README.md"
IMPORTANCE_FILES = IMPORTANCE_TABLE_FILES + IMPORTANCE_FIGURE_FILES


if GRID.warmups:

    rule importance_tables:
        input:
            records=WARMUP_RECORDS,
        output:
            reported_tables(
                IMPORTANCE_TABLE_FILES, caption="../report/importance_tables.rst"
            ),
        log:
            f"{RESULTS}/logs/importance_tables.log",
        localrule: True
        conda:
            CONDA_ENV
        params:
            out=lambda wc, output: str(Path(output[0]).parent),
            scoring=" ".join(f"--scoring {shlex.quote(s)}" for s in GRID.scorings()),
        shell:
            "exec python -m sample_importance importance-tables --out {params.out:q} {params.scoring} {input.records:q} 2> {log:q}"


rule importance_plots:
    input:
        summary=SUMMARY_FILES,
        tables=IMPORTANCE_TABLE_FILES,
        records=WARMUP_RECORDS,
        data=[data_file(d) for d in config["datasets"]],
    output:
        reported_figures(IMPORTANCE_FIGURE_FILES),
    log:
        f"{RESULTS}/logs/importance_plots.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        summary=lambda wc, input: str(Path(input.summary[0]).parent),
        figures=lambda wc, output: str(Path(output[0]).parent),
        data=lambda wc, input: " ".join(
            f"--data {shlex.quote(f'{d}={p}')}"
            for d, p in zip(config["datasets"], input.data)
        ),
        staged=" ".join(
            f"--staged {shlex.quote(m)}"
            for m in GRID.staged_methods() + GRID.pruned_methods()
        ),
    shell:
        "exec python -m sample_importance importance-plots --summary {params.summary:q} --out {params.figures:q}"
        " {params.data} {params.staged} {input.records:q} 2> {log:q}"


rule figures_readme:
    input:
        [f for f in FIGURE_FILES + IMPORTANCE_FIGURE_FILES if f.endswith(".png")],
    output:
        FIGURES_README,
    log:
        f"{RESULTS}/logs/figures_readme.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        entries=lambda wc, input: " ".join(
            shlex.quote(f"{Path(f).stem}={figure_caption(Path(f).stem) or ''}")
            for f in input
        ),
    shell:
        "exec python -m sample_importance figures-readme --out {output:q} {params.entries} 2> {log:q}"
