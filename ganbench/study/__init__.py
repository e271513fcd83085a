"""Studies: the fair comparison as one command. Every variant gets the same hyperparameter search budget (stage 1,
on a selection split), then its chosen setting and its own recipe are trained over seeds at the full budget and
reported on a split never used for selection (stage 2), beside the random floor and the real-vs-real line.

    ganbench study benchmarks/studies/celeba32.toml [--set data=/path/to/celeba] [--dry-run]

A study file is TOML:

    [study]          name; variants (searched and compared); baselines (stage 2 only, default ["random", "real"]);
                     metric (selects and ranks: kid | fid | fidinf, default kid, at the eval_samples count);
                     equivalence_margin (a share of the gap between the best variant and the random floor within
                     which two variants count as tied, tested by two one-sided tests; default 0.1); executor,
                     max_concurrent, cpus_per_trial, gpus_per_trial (as for sweeps)
    [data]           dataset, data, resolution, channels, crop, max_images
    [settings]       config fields for every trial of both stages (g_width, eval_samples, tick_kimg, ...)
    [search]         stage 1: budget, trials (K draws per variant), mode (lhs: a Latin hypercube of the K draws,
                     the default; random: independent draws), seed (of the draws), seeds (run seeds),
                     split (the selection split, e.g. "val"), [search.settings] for stage 1 only
    [search.space]   the distributions, as in a sweep: {log_uniform = [lo, hi]}, {choice = [...]}, ...; the same K
                     draws for every variant, each projected onto the keys that act on it
    [final]          stage 2: budget, seeds (tuned arm and baselines), recipe_seeds (the recipe arm; default the
                     same), split (the report split, e.g. "test"), [final.settings] for stage 2 only
                     (eval_every_kimg for the curve points, ...)
    [cost]           train_img_per_s (a number, or {default = .., <variant> = ..}), eval_img_per_s,
                     trial_overhead_s: the rates behind the printed plan until the study measures its own

Layout (default `results/studies/<name>/`):

    study.json                               the study as planned, its estimate, and what has run
    search/<variant>/<draw>/seed<k>/         stage 1 trials (ordinary run directories with trial.json)
    selection.json                           per variant: every candidate with its value, and the chosen one
    final/<variant>/{tuned,recipe}/seed<k>/  stage 2 trials; baselines under final/<name>/recipe/

Running the same command again skips finished trials and resumes interrupted ones (a study runs across sittings);
stage 2 starts for the variants whose stage-1 trials have all finished.
"""

from ganbench.study.plan import plan_final, plan_search, select
from ganbench.study.spec import Study, load_study

__all__ = ["Study", "load_study", "plan_final", "plan_search", "select"]
