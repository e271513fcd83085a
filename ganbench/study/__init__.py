"""Studies: the fair comparison as one command. A study is a list of stages that an executor runs: every variant
gets the same candidates (its recipe and the same random draws of a search space), chosen between on a selection
split (a search stage, then successive-halving rungs that keep the best share and continue them to larger budgets),
then each variant's chosen setting and its own recipe are trained over seeds at the full budget and reported on a
split never used for selection (the final stage), beside the random floor and the real-vs-real line. The analysis
the report makes is declared in the file before the first trial, and its hash recorded when stage 1 starts.

    ganbench study benchmarks/studies/celeba32-v2.toml [--set data=/path/to/celeba] [--dry-run]
    run_study(load_study(path), out, executor, options, on_event)      # the same from a script

A study file is TOML (format 2; issue 18's two-stage files, format 1, still read: see ganbench.study.spec):

    [study]          name; variants (searched and compared); baselines (final stage only, default ["random",
                     "real"]); executor, max_concurrent, cpus_per_trial, gpus_per_trial (as for sweeps)
    [analysis]       the declared analysis plan: metric, scale, margin, alpha, family, log_floor, goals
                     (ganbench.study.analysis)
    [power]          cv (seed-to-seed coefficient of variation), ratio, power: the seeds the plan needs
                     (ganbench.study.power; printed by --dry-run against the final stage's seeds)
    [data]           dataset, data, resolution, channels, crop, max_images
    [settings]       config fields for every trial (g_width, eval_samples, precision, ...)
    [search]         the candidates: trials (K draws per variant), mode (lhs | random), seed (of the draws), recipe
                     (true: the variant's recipe is a candidate too); [search.space] the distributions, as in a
                     sweep: the same K draws for every variant, each projected onto the keys that act on it
    [[stages]]       in order: name, kind (search | halving | final: ganbench.study.stages), budget, split, seeds;
                     keep (halving: the share kept); recipe_seeds (final); [stages.settings] for that stage only
    [cost]           train_img_per_s (a number, or {default = .., <variant> = ..}), eval_img_per_s,
                     trial_overhead_s: the rates behind the printed plan until the study measures its own

Layout (default `results/studies/<name>/`, names in ganbench.study.layout):

    study.json                               the plan and its hash, every stage's trials and selection, the estimate
    <stage>/<variant>/<candidate>/seed<k>/   a candidate stage's trials (ordinary run directories with trial.json)
    final/<variant>/{tuned,recipe}/seed<k>/  the final stage's trials; baselines under final/<name>/recipe/

Running the same command again skips finished trials and resumes interrupted ones (a study runs across sittings);
a stage starts once the stage before has finished for every variant. `ganbench.study.record.load_record` reads a
results folder back as typed values.
"""

from ganbench.study.record import StudyRecord, load_record
from ganbench.study.run import Event, StudyOptions, StudyResult, run_study
from ganbench.study.spec import Study, load_study

__all__ = ["Event", "Study", "StudyOptions", "StudyRecord", "StudyResult", "load_record", "load_study", "run_study"]
