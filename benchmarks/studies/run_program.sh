#!/usr/bin/env bash
# Issue 27's program: the CelebA v2 study, then the CIFAR-10 v2 one (benchmarks/studies/*-v2.toml), two trials at a
# time with one thread each, every finished trial's result files committed as it finishes
# (benchmarks/commit_trials.sh). Run it again in the next sitting: finished trials are skipped, interrupted ones
# resume, and a successive-halving rung continues its candidates from the previous rung's checkpoints where the
# results folder still holds them (a folder without checkpoints trains the next rung from the start: the same runs,
# at a higher cost). Each study's plan and estimate is printed first (`--dry-run` prints it alone).
#   bash benchmarks/studies/run_program.sh                    # from the repository, results in ./results/fair-*-v2
#   STUDIES=celeba32-v2 bash benchmarks/studies/run_program.sh   # only the CelebA study (CIFAR-10: if time is left)
#   STUDIES="stacked_mnist celeba32-v2" bash benchmarks/studies/run_program.sh   # issue 28's study first, results in
#                                                             # ./results/stacked-mnist
#   PROGRAM=v1 bash benchmarks/studies/run_program.sh         # issue 18's program (celeba32, cifar10)
#   REPO=/path/to/repo bash benchmarks/studies/run_program.sh # from a snapshot worktree (so that edits to the
#                                                             # repository cannot change the code mid-study),
#                                                             # results and commits in REPO
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
repo=${REPO:-$here}
if [ "${PROGRAM:-v2}" = v1 ]; then default="celeba32 cifar10"; else default="celeba32-v2 cifar10-v2"; fi
cd "$here" || exit 1
for name in ${STUDIES:-$default}; do
  case "$name" in
    stacked_mnist) folder=stacked-mnist ;;  # a study of its own (issue 28), not one of the fair comparisons
    *) folder="fair-$name" ;;
  esac
  out="$repo/results/$folder"
  (sleep 60; cd "$repo" && bash benchmarks/commit_trials.sh "results/$folder" 120) &
  committer=$!
  uv run ganbench study "benchmarks/studies/$name.toml" --out "$out" --max-concurrent 2 --cpus-per-trial 1
  status=$?
  wait "$committer"
  [ "$status" = 0 ] || { echo "run_program: the $name study exited $status; run this script again to go on"; exit "$status"; }
done
