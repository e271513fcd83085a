#!/usr/bin/env bash
# The README's first command as a new user meets it, and its committed copy and figure (issue 30).
#
#   benchmarks/first_command.sh time [WORK]   on a QUIET machine: a fresh clone of this checkout's HEAD in WORK (default:
#                                             a new temporary folder) with empty uv and ganbench caches, the command
#                                             under /usr/bin/time; writes WORK/timing.txt (wall time, peak RSS, load,
#                                             CPU, commit, date) and leaves the runs in WORK/ganbench/results/synthetic-32
#   benchmarks/first_command.sh copy WORK     results/default-cpu <- WORK's runs (no checkpoints, per-tick grids or
#                                             report.html, WORK's paths made relative) and WORK/timing.txt; its
#                                             PROVENANCE.md stays, to be edited
#   benchmarks/first_command.sh report        ganbench report results/default-cpu, then the README's figure
#                                             docs/img/report-first-command.png: the first 1400x1800 px of report.html
#                                             in headless Chromium, 256 colours
#   benchmarks/first_command.sh numbers       the rows of docs/results.md's first-command table from results/default-cpu
#
# time, copy and report in that order remake everything the README's first-command section shows; `report` alone redraws the figure
# after the report's code changed (the runs stay as they are).
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
COMMAND='python3 -m pip install -q uv && uv run ganbench run --variants dcgan,wgan-gp,vae,random && uv run ganbench report results/synthetic-32'

case "${1:-}" in
time)
    WORK=${2:-$(mktemp -d)}
    mkdir -p "$WORK"
    git clone -q "$ROOT" "$WORK/ganbench"
    git -C "$WORK/ganbench" checkout -q "$(git -C "$ROOT" rev-parse HEAD)"
    export UV_CACHE_DIR="$WORK/uv-cache" GANBENCH_CACHE="$WORK/ganbench-cache"
    {
        echo "command: $COMMAND"
        echo "commit: $(git -C "$ROOT" rev-parse HEAD)"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc --all) cores, OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}"
        echo "load before: $(uptime)"
    } >"$WORK/timing.txt"
    (cd "$WORK/ganbench" && /usr/bin/time -o "$WORK/time.txt" -f "%e s wall, %U s user + %S s system CPU, %M KB peak RSS of the largest process" \
        bash -c "$COMMAND") 2>&1 | tee "$WORK/output.txt"
    {
        echo "load after: $(uptime)"
        echo "whole command: $(cat "$WORK/time.txt")"
        echo "downloaded into the empty uv cache: $(du -sh "$UV_CACHE_DIR" | cut -f1)"
    } >>"$WORK/timing.txt"
    cat "$WORK/timing.txt"
    ;;
copy)
    WORK=${2:?usage: first_command.sh copy WORK}
    keep=$(mktemp)
    cp "$ROOT/results/default-cpu/PROVENANCE.md" "$keep" 2>/dev/null || true
    rm -rf "$ROOT/results/default-cpu"
    mkdir -p "$ROOT/results/default-cpu"
    [ -s "$keep" ] && cp "$keep" "$ROOT/results/default-cpu/PROVENANCE.md"  # kept to be edited, not rewritten
    rm -f "$keep"
    cp -R "$WORK/ganbench/results/synthetic-32/." "$ROOT/results/default-cpu/"
    find "$ROOT/results/default-cpu" -depth -name checkpoints -type d -exec rm -rf {} +
    find "$ROOT/results/default-cpu" \( -name 'tick*.png' -o -name report.html \) -delete
    cp "$WORK/timing.txt" "$ROOT/results/default-cpu/timing.txt"
    # the runs record absolute paths (the command, the caches): name them as a reader's own checkout would
    find "$ROOT/results/default-cpu" \( -name '*.json' -o -name '*.jsonl' -o -name '*.md' -o -name '*.csv' \) \
        -exec sed -i -e "s#$WORK/ganbench-cache#\$GANBENCH_CACHE#g" -e "s#$WORK/ganbench/##g" {} +
    echo "results/default-cpu: copied from $WORK; write its PROVENANCE.md from timing.txt"
    ;;
report)
    cd "$ROOT"
    uv run ganbench report results/default-cpu
    find results/default-cpu/report \( -name '*.md' -o -name '*.csv' \) -exec sed -i "s#$ROOT/##g" {} +
    profile=$(mktemp -d)
    shot="$profile/report.png"
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --no-first-run --hide-scrollbars --user-data-dir="$profile" --window-size=1400,1800 \
        --screenshot="$shot" "file://$ROOT/results/default-cpu/report/report.html" 2>/dev/null
    uv run python -c "import sys; from PIL import Image; Image.open(sys.argv[1]).convert('RGB').quantize(256).save(sys.argv[2], optimize=True)" \
        "$shot" docs/img/report-first-command.png
    rm -rf "$profile"
    echo "docs/img/report-first-command.png: redrawn from results/default-cpu/report/report.html"
    ;;
numbers)
    # the rows of docs/results.md's first-command table, from the committed copy
    cd "$ROOT"
    for v in dcgan vae wgan-gp random; do
        uv run python - "results/default-cpu/$v/seed0" <<'PY'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
s = json.loads((run / "summary.json").read_text())
f = s["final"]
evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if '"kind": "eval"' in x or '"kind":"eval"' in x]
kid50 = " / ".join(f"{e['kid50']:.3f}" for e in evals if "kid50" in e)
rate = f"{s['img_per_s']:,.0f}" if s.get("img_per_s") else "-"
print(f"| {run.parent.name} | {f['kid100']:.3f} | {f['fid100']:.0f} | {kid50} | {s['kimg']:g} | {s['g_steps']:,} | {s['seconds']:.1f} | {rate} |")
PY
    done
    ;;
*)
    sed -n '2,17p' "$0"
    exit 2
    ;;
esac
