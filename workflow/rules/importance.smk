# The importance itself: tables from the warm-up records (importance_tables) and the figures of
# easy/hard samples, distributions, model dependence, score agreement, class balance over time and
# the methods table (importance_plots); figures/README.md of every figure (figures_readme). No training:
# seconds on a CPU. All run locally.

from sample_importance.outputs import importance_figure_files, importance_files

WARMUP_RECORDS = [f"{GRID.warmup_dir(w)}/records.pt" for w in GRID.warmups]
IMPORTANCE_TABLE_FILES = importance_files(RESULTS) if GRID.warmups else []
IMPORTANCE_FIGURE_FILES = importance_figure_files(config, FIGURES, with_warmups=bool(GRID.warmups))
FIGURES_README = f"{FIGURES}/README.md"
IMPORTANCE_FILES = IMPORTANCE_TABLE_FILES + IMPORTANCE_FIGURE_FILES


if GRID.warmups:

    rule importance_tables:
        input:
            records=WARMUP_RECORDS,
        output:
            reported_tables(IMPORTANCE_TABLE_FILES, caption="../report/importance_tables.rst"),
        params:
            out=lambda wc, output: str(Path(output[0]).parent),
            scoring=" ".join(f"--scoring {s}" for s in GRID.scorings()),
        conda:
            CONDA_ENV
        log:
            f"{RESULTS}/logs/importance_tables.log",
        localrule: True
        shell:
            "python -m sample_importance.analysis.importance_analysis --out {params.out} {params.scoring} {input.records} 2> {log}"


rule importance_plots:
    input:
        summary=SUMMARY_FILES,
        tables=IMPORTANCE_TABLE_FILES,
        records=WARMUP_RECORDS,
        data=[data_file(d) for d in config["datasets"]],
    output:
        reported_figures(IMPORTANCE_FIGURE_FILES),
    params:
        summary=lambda wc, input: str(Path(input.summary[0]).parent),
        figures=lambda wc, output: str(Path(output[0]).parent),
        data=lambda wc, input: " ".join(f"--data {shlex.quote(f'{d}={p}')}" for d, p in zip(config["datasets"], input.data)),
        staged=" ".join(f"--staged {m}" for m in GRID.staged_methods() + GRID.pruned_methods()),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/importance_plots.log",
    localrule: True
    shell:
        "python -m sample_importance.figures.plots_importance figures --summary {params.summary} --out {params.figures}"
        " {params.data} {params.staged} {input.records} 2> {log}"


rule figures_readme:
    input:
        [f for f in FIGURE_FILES + IMPORTANCE_FIGURE_FILES if f.endswith(".png")],
    output:
        FIGURES_README,
    params:
        entries=lambda wc, input: " ".join(
            shlex.quote(f"{Path(f).stem}={figure_caption(Path(f).stem) or ''}") for f in input
        ),
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/figures_readme.log",
    localrule: True
    shell:
        "python -m sample_importance.figures.plots_importance readme --out {output} {params.entries} 2> {log}"
