"""Sample importance in SGD: warm-up -> score -> biased continuation, and the baselines.

    snakemake --cores 2                                  # the embedded default (config.yaml)
    snakemake --cores 2 --configfile config/cifar10-small.yaml
    snakemake --profile profiles/slurm --configfile config/paper.yaml

The config is checked (schema + semantics) here, before any job runs.
"""

from snakemake.utils import min_version

min_version("9.19")


# config.yaml is the default. `--configfile A.yaml [B.yaml ...]` replaces it (later files update earlier
# ones): profiles/default/profile.yaml sets Snakemake's own `replace-workflow-config`.
configfile: "config.yaml"


# `--config key=value` alone adjusts config.yaml, as users expect: replace-workflow-config drops
# config.yaml for any command-line config, so it is read again here with the `--config` values on top.
# (config.workflow_config_files names config.yaml then, so its strict checks still run.)
if (
    workflow.config_settings.overwrite_config
    and not workflow.config_settings.configfiles
):
    import copy
    import yaml
    from snakemake.utils import update_config

    with open("config.yaml") as _f:
        _base = yaml.safe_load(_f) or {}
    update_config(_base, copy.deepcopy(workflow.config_settings.overwrite_config))
    config.clear()
    config.update(_base)


include: "workflow/rules/common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/importance.smk"


rule all:
    default_target: True
    input:
        FIGURE_FILES,
        SUMMARY_FILES,
        CLAIMS_FILES,
        HTML_TABLE_FILES,
        IMPORTANCE_FILES,
        NOISE_FILES,
        NOISE_FIGURE_FILES,
        FIGURES_README,
