#!/bin/sh
# Reproduce the hotspot back-test target table (issue 4) on the bundled Westminster data:
# public order + violence and sexual offences + criminal damage and arson, each of the
# last three months predicted from the (up to 12) months before it.
# Writes bench/results/backtest/{backtest.md,backtest.csv,target.json,hit_rate.png}, the two
# validation runs below, and ceiling.md (bench/backtest_ceiling.py).
set -e
cd "$(dirname "$0")/.."
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2018-04 2018-05 2018-06 --train-months 12 \
    --categories public-order violent-crime criminal-damage-arson \
    --out bench/results/backtest
# Validation months used to choose parameters (see docs/hotspots.md); never the target months.
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2018-01 2018-02 2018-03 --train-months 12 \
    --categories public-order violent-crime criminal-damage-arson \
    --out bench/results/backtest/validation-2018-01_03
# Earlier validation months: the data start in 2017-07, so these learn from only 3-5 months.
.venv/bin/patrols backtest --area data/westminster/area.toml \
    --test-month 2017-10 2017-11 2017-12 --train-months 12 \
    --categories public-order violent-crime criminal-damage-arson \
    --out bench/results/backtest/validation-2017-10_12
# Ceiling analysis: n* check, leaky oracles, a stationary Poisson world.
.venv/bin/python bench/backtest_ceiling.py > /dev/null
