#!/usr/bin/env bash
# Mutation testing of one group of modules with mutmut 3 (tests/README.md has the figures).
#
#   tests/mutate.sh bulk|dispatcher|alerts|rules [COMMIT [MUTANT_NAME...]]   (default: HEAD)
#   then, in the directory it names: mutmut results / mutmut show NAME
#
# Run again on a later commit, it keeps the results of mutants whose code is unchanged; name
# mutants (or "floodwatch.store.bulk.x_*" patterns) to run them again against the new tests.
#
# A copy of COMMIT's tree is made in $MUTATE_DIR/<group> (default /tmp/floodwatch-mutants) and
# setup.cfg's [mutmut] section there is narrowed to the group's modules and their own tests:
# mutmut runs every selected test that reaches a mutant's function, and nearly every test in the
# suite reaches these modules through ingest and the outbox, so with the whole suite each
# surviving mutant costs minutes and one group hours. The copy keeps the run away from work in
# progress in the tree. PostgreSQL variants run for the bulk store only (its PostgreSQL path is
# code of its own); elsewhere the engine changes nothing a mutant could show.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
group=${1:?usage: tests/mutate.sh bulk|dispatcher|alerts|rules [COMMIT]}
commit=${2:-HEAD}
shift $(($# < 2 ? $# : 2))
engines=("-m" "not postgres")
case $group in
bulk)
    modules=(floodwatch/store/bulk.py)
    tests=(tests/test_storage.py tests/test_mutants_bulk.py)
    engines=()
    ;;
dispatcher)
    modules=(floodwatch/notify/dispatcher.py floodwatch/notify/groupcommit.py)
    tests=(tests/test_outbox.py tests/test_mutants_dispatcher.py tests/test_groupcommit.py)
    ;;
alerts)
    modules=('floodwatch/alerts/*')
    tests=(tests/test_escalation.py tests/test_lifecycle.py tests/test_mutants_lifecycle.py
        tests/test_mutants_official.py tests/test_mutants_orphans.py
        tests/test_library_errors_i18n.py)
    ;;
rules)
    modules=('floodwatch/rules/*')
    tests=(tests/test_threshold.py tests/test_rainfall.py tests/test_rise_quality.py
        tests/test_mutants_engine.py tests/test_mutants_silence.py tests/test_pipeline_rules.py)
    ;;
*)
    echo "unknown group $group (bulk, dispatcher, alerts, rules)" >&2
    exit 2
    ;;
esac

dir=${MUTATE_DIR:-/tmp/floodwatch-mutants}/$group
mkdir -p "$dir"
git -C "$root" archive "$commit" | tar -x -C "$dir"
cfg=$dir/setup.cfg
sed -i '/^\[mutmut\]/,$d' "$cfg"  # [mutmut] is the file's last section
{
    echo "[mutmut]"
    echo "source_paths ="
    echo "    floodwatch/"
    echo "only_mutate ="
    printf '    %s\n' "${modules[@]}"
    echo "also_copy ="
    printf '    %s\n' config/ rosters/ benchmarks/ README.md
    echo "pytest_add_cli_args_test_selection ="
    printf '    %s\n' "${tests[@]}"
    echo "pytest_add_cli_args ="
    printf '    %s\n' -n0 -p no:cacheprovider "${engines[@]}"
} >>"$cfg"
echo "mutating ${modules[*]} against ${tests[*]} in $dir"
cd "$dir"
FLOODWATCH_SHARED=${FLOODWATCH_SHARED:-$(dirname "$root")/shared} \
    "$root/.venv/bin/mutmut" run --max-children "${MUTATE_CHILDREN:-2}" "$@"
