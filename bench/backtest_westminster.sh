#!/bin/sh
# Reproduce the hotspot back-test target table (issue 15) on the bundled Westminster data: the
# tension categories the hotspot surface counts by default (public order, violence and sexual
# offences, criminal damage and arson, anti-social behaviour; no --categories = the area's
# [hotspots] categories), each of the last three months predicted from the (up to 12) months
# before it. The `model` row is the product: its blend with the street count is chosen on the
# three months before each test month, never on the test month.
# Writes bench/results/backtest/{backtest.md,backtest.csv,target.json,hit_rate.png}, the
# validation runs below, and the ceiling analyses (bench/backtest_ceiling.py).
set -e
cd "$(dirname "$0")/.."
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2018-04 2018-05 2018-06 --train-months 12 \
    --out bench/results/backtest
# Validation months (used to choose parameters in issue 4; see docs/hotspots.md); never the target months.
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2018-01 2018-02 2018-03 --train-months 12 \
    --out bench/results/backtest/validation-2018-01_03
# Earlier validation months: the data start in 2017-07, so these learn from only 3-5 months.
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2017-10 2017-11 2017-12 --train-months 12 \
    --out bench/results/backtest/validation-2017-10_12
# The issue 4 set (no anti-social behaviour), for comparison with the earlier tables.
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2018-04 2018-05 2018-06 --train-months 12 \
    --categories public-order violent-crime criminal-damage-arson \
    --out bench/results/backtest/three-categories
# Ceiling analysis: n* check, leaky oracles, a stationary Poisson world.
.venv/bin/python bench/backtest_ceiling.py > /dev/null
.venv/bin/python bench/backtest_ceiling.py --categories public-order violent-crime criminal-damage-arson \
    --out bench/results/backtest/ceiling-3-categories.md > /dev/null
