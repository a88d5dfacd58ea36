#!/usr/bin/env bash
# The whole test suite, stage by stage; each stage is timed.
#   scripts/test.sh              all stages
#   scripts/test.sh STAGE...     only these: lint sanity docs pytest faults molecule
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export PATH="$ROOT/.venv/bin:$PATH"
export VIRTUAL_ENV="$ROOT/.venv"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0
log() { printf '\nflaskfleet-test: %s\n' "$*" >&2; }

STAGES=("$@")
[ "${#STAGES[@]}" -gt 0 ] || STAGES=(lint docs sanity pytest faults molecule)

# Every stage checks the collection as installed from the built tarball, not the source tree.
# NOTE: outside the work tree: inside it ansible-test would ask git which files exist,
# and build/ is git-ignored. One path per checkout: two checkouts testing at once (a clone
# under CI beside a working tree) must never reinstall the collection under each other.
TEST_COLLECTIONS="${TMPDIR:-/tmp}/flaskfleet-test-collections-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
install_tarball() {
    rm -rf "$TEST_COLLECTIONS"
    TARBALL="$(scripts/install-collection.sh "$TEST_COLLECTIONS")"
    export FLASKFLEET_TARBALL="$TARBALL"
    export ANSIBLE_COLLECTIONS_PATH="$TEST_COLLECTIONS"
    INSTALLED="$TEST_COLLECTIONS/ansible_collections/flaskfleet/cloud"
}

stage_lint() {
    ruff check .
    ruff format --check .
    antsibull-changelog lint
    ansible-lint --offline
}

stage_docs() {
    local plugin
    for plugin in $(ls "$INSTALLED/plugins/modules" | grep -v '^__' | sed 's/\.py$//'); do
        ansible-doc "flaskfleet.cloud.$plugin" | grep -q "EXAMPLES:" || { echo "ansible-doc flaskfleet.cloud.$plugin is incomplete"; return 1; }
    done
    ansible-doc -t inventory flaskfleet.cloud.fleet | grep -q "EXAMPLES:"
    echo "ansible-doc pages complete for all modules and the fleet inventory plugin"
}

stage_sanity() {
    # ansible-test downloads a pip bootstrap script from the internet; give it a local one.
    # The file name carries the pip version that ansible-test pins (not ours).
    local pipver cache
    pipver="$(grep -oP "pip='\K[0-9.]+" "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n1)"
    cache="$HOME/.ansible/test/cache"
    mkdir -p "$cache"
    cat > "$cache/get_pip_${pipver//./_}.py" <<'PY'
"""Offline stand-in for get-pip.py: ensurepip, then pip install with the given arguments."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
    (cd "$INSTALLED" && ansible-test sanity --venv --python 3.11 --color no)
}

# The suites spend most of their time waiting on SSH, containers and health checks, so three
# independent groups run side by side (each area uses its own app label, hosts and state dir).
run_groups() {
    local logs="$ROOT/build/test-logs" pids=() names=() rc=0 i
    mkdir -p "$logs"
    while [ "$#" -gt 0 ]; do
        names+=("$1"); shift
        local args=()
        while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
        [ "$#" -gt 0 ] && shift
        python -m pytest -p no:cacheprovider "${args[@]}" >"$logs/${names[-1]}.log" 2>&1 &
        pids+=("$!")
    done
    for i in "${!pids[@]}"; do
        if wait "${pids[$i]}"; then
            log "group ${names[$i]}: passed"
        else
            log "group ${names[$i]}: FAILED"
            rc=1
        fi
        cat "$logs/${names[$i]}.log"
    done
    return $rc
}

stage_pytest() {
    # The cloud APIs are local fakes (moto, the ARM and GCE fakes): light on the hosts, one group.
    # Each group uses its own app names and hosts; they are sized to finish at about the same time.
    run_groups \
        unit-clouds tests/unit tests/integration/aws tests/integration/azure tests/integration/gcp -m "not faults" -- \
        hosts-tasks tests/integration --ignore=tests/integration/aws --ignore=tests/integration/azure \
            --ignore=tests/integration/gcp --ignore=tests/integration/deploy --ignore=tests/integration/runner \
            -m "not faults" -- \
        runner-contract tests/integration/runner tests/integration/deploy/test_contract_features.py -m "not faults" -- \
        deploy tests/integration/deploy --ignore=tests/integration/deploy/test_contract_features.py -m "not faults"
}

stage_faults() {
    run_groups \
        faults-aws-fleet tests/faults/test_aws_faults.py tests/faults/test_fleet_faults.py tests/unit -m faults -- \
        faults-deploy tests/faults/test_deploy_faults.py tests/faults/test_load_during_change.py -m faults -- \
        faults-input tests/faults/test_bad_input_corpus.py tests/faults/test_secrets.py -m faults
}

stage_molecule() {
    molecule test --all
}

install_tarball
status=0
for stage in "${STAGES[@]}"; do
    log "stage $stage"
    t0=$SECONDS
    # NOTE: not `if stage_x`: bash ignores `set -e` inside a function called as a condition.
    set +e
    (set -e; "stage_$stage")
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        log "stage $stage passed in $((SECONDS - t0)) s"
    else
        log "stage $stage FAILED (exit $rc) after $((SECONDS - t0)) s"
        status=1
    fi
done
exit $status
