#!/bin/bash
# Side-by-side rounds for a machine whose speed swings: with every server already running, each
# round runs one scenario on each server back to back (`run.py`, wrk 2x32), so the servers
# compared in a scenario are measured within seconds of each other.
#
# usage: bench/rounds.sh DYNAROCK_URL DYNAROCK_PID OTHER_URL OTHER_PID [BARE_URL BARE_PID]
#   e.g. bench/rounds.sh http://127.0.0.1:8101 1234 http://127.0.0.1:8102 1240 http://127.0.0.1:8199 1250
# ROUNDS (default 4) and DURATION (seconds per run, default 8) tune it. The bare HTTP server,
# if given, runs GetItem only (it answers every request with the same body).
set -eu
cd "$(dirname "$0")"
run() { # url pid scenario label
    python3 run.py "$1" --pid "$2" --scenarios "$3" --reps 1 --duration "${DURATION:-8}" --label "$4" |
        tail -n +3 | sed "s/^/$round $4 /"
}
for round in $(seq "${ROUNDS:-4}"); do
    run "$1" "$2" get dynarock
    if [ $# -ge 6 ]; then run "$5" "$6" get bare; fi
    run "$3" "$4" get other
    for scenario in put query10; do
        run "$1" "$2" $scenario dynarock
        run "$3" "$4" $scenario other
    done
done
