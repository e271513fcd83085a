"""Sweeps: variants x hyperparameter settings x seeds, each trial one ordinary run directory, on an executor.

A sweep file is TOML (examples in benchmarks/sweeps/, the format in docs/sweeps.md):

    [sweep]         name, variants, seeds, budget; optional eval, executor, cpus_per_trial, gpus_per_trial,
                    max_concurrent, max_retries
    [data]          dataset, data, resolution, channels, crop, max_images
    [settings]      any other config field, the same for every trial (tick_kimg, eval_samples, g_width, ...)
    [search]        mode = "grid" | "random" | "lhs" (random search as a Latin hypercube: every range covered);
                    trials and seed (random, lhs); include_recipe
    [search.space]  hyperparameter = a list of values (grid; in random mode, a uniform choice), or for random
                    search one distribution: {choice = [..]}, {uniform = [lo, hi]}, {log_uniform = [lo, hi]},
                    {int_uniform = [lo, hi]}

Layout of the results (default `results/sweeps/<name>/`):

    <out>/sweep.json                    the sweep as planned: its file, its options, every trial
    <out>/<variant>/<trial>/seed<k>/    an ordinary run directory (see ganbench.rundir) plus trial.json:
                                        sweep, trial tag, params, and one record per attempt (id, host,
                                        pid, threads, start and end wall times, status, error)

A search point is projected onto the hyperparameters that act on each variant (n_critic on GANs only,
penalty_weight where a penalty is on only, Adam's betas where Adam is used, kl_weight on the VAE only, nothing on
the random baseline), and points that then give the same config run once: the random baseline runs once per seed
however large the search, and a VAE is not trained five times because n_critic took five values.

Trials are `ganbench.execution.Trial`s, run by the same executors as `ganbench run` and studies
(`ganbench.execution`): plan_sweep -> trial_state -> run_trials -> an executor -> execute.run_trial ->
runner.execute.

Modules, one job each: spec.py (the file), search.py (the points and their tags), plan.py (the trials, and the
--dry-run table), run.py (`run_sweep`: plan, record sweep.json, run what is left).

A trial whose worker is lost (killed, out of memory, its node gone) runs again within the command, from its last
checkpoint, up to max_retries times (ganbench.execution.executors); a trial that fails by itself does not.

Running the same sweep again skips completed and diverged trials (a divergence is a result, not an accident;
--rerun-diverged retries them) and resumes the others from their last checkpoint, whichever executor ran them.
"""

from ganbench.sweep.plan import plan_sweep, plan_text
from ganbench.sweep.run import SweepResult, plan_states, run_sweep
from ganbench.sweep.search import search_points, trial_tag
from ganbench.sweep.spec import Sweep, load_sweep

__all__ = [
    "Sweep",
    "SweepResult",
    "load_sweep",
    "plan_states",
    "plan_sweep",
    "plan_text",
    "run_sweep",
    "search_points",
    "trial_tag",
]
