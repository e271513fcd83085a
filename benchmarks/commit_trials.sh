#!/usr/bin/env bash
# Commit each finished trial of a long study as it finishes (its result files only: no checkpoints), so that a
# study running across sittings loses nothing when a sitting ends. Run it beside the study, from the repository:
#   bash benchmarks/commit_trials.sh results/fair-celeba32 [seconds between looks, default 120]
# It stops by itself once the study's process is gone and everything finished is committed (or on Ctrl-C).
set -u
dir=${1:?usage: commit_trials.sh RESULTS_DIR [INTERVAL_S]}
every=${2:-120}
cd "$(git rev-parse --show-toplevel)" || exit 1
study_alive() { pgrep -f "ganbench study .*$(basename "$dir")" >/dev/null; }
while true; do
  # whether the study is gone is decided before the scan, so that the last scan sees everything it finished
  # (deciding after it lost a trial that finished between the scan and the check)
  alive=1
  if ! study_alive; then sleep 5; study_alive || alive=0; fi
  paths=()
  while IFS= read -r summary; do
    run=$(dirname "$summary")
    status=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("status"))' "$summary" 2>/dev/null)
    case "$status" in completed|diverged|failed) ;; *) continue ;; esac
    for f in config.json metrics.jsonl summary.json trial.json error.log samples/final.png samples/final-ema.png; do
      [ -f "$run/$f" ] && paths+=("$run/$f")
    done
  done < <(find "$dir" -name summary.json 2>/dev/null | sort)
  for f in study.json selection.json; do [ -f "$dir/$f" ] && paths+=("$dir/$f"); done
  if [ ${#paths[@]} -gt 0 ]; then
    git add -- "${paths[@]}" 2>/dev/null
    changed=$(git diff --cached --name-only -- "${paths[@]}" | grep -c summary.json || true)
    if ! git diff --cached --quiet -- "${paths[@]}"; then
      msg="$(basename "$dir"): ${changed} more finished trial(s)"; [ "$changed" = 0 ] && msg="$(basename "$dir"): study files updated"
      git commit -q -m "$msg ($(date -u +%FT%TZ))" -- "${paths[@]}" \
        && echo "committed ${changed} trial(s) of $dir"
    fi
  fi
  [ "$alive" = 1 ] || { echo "study process gone; stopping"; break; }
  sleep "$every"
done
