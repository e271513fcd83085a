#!/usr/bin/env bash
# Issue 18's whole program: the CelebA study, then the CIFAR-10 one (benchmarks/studies/*.toml), two trials at a
# time with one thread each, every finished trial's result files committed as it finishes
# (benchmarks/commit_trials.sh). Run it again in the next sitting: finished trials are skipped.
#   bash benchmarks/studies/run_program.sh                    # from the repository, results in ./results/fair-*
#   REPO=/path/to/repo bash benchmarks/studies/run_program.sh # from a snapshot worktree (so that edits to the
#                                                             # repository cannot change the code mid-study),
#                                                             # results and commits in REPO
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
repo=${REPO:-$here}
cd "$here" || exit 1
for name in celeba32 cifar10; do
  out="$repo/results/fair-$name"
  (sleep 60; cd "$repo" && bash benchmarks/commit_trials.sh "results/fair-$name" 120) &
  committer=$!
  uv run ganbench study "benchmarks/studies/$name.toml" --out "$out" --max-concurrent 2 --cpus-per-trial 1
  status=$?
  wait "$committer"
  [ "$status" = 0 ] || { echo "run_program: the $name study exited $status; run this script again to go on"; exit "$status"; }
done
