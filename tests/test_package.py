"""Importing archlab chooses sleeping OpenMP threads unless the environment chose a policy."""

import os
import subprocess
import sys


def _policy_after_import(env_policy):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    code = "import os, archlab; print(os.environ.get('OMP_WAIT_POLICY'))"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_import_sets_passive_wait_policy_by_default():
    assert _policy_after_import(None) == "PASSIVE"


def test_import_keeps_a_policy_the_environment_chose():
    assert _policy_after_import("ACTIVE") == "ACTIVE"
