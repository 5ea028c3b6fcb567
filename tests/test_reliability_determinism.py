"""Determinism across processes and thread-safe inference, for every public estimator."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _skae_estimators import CLASS_IDS, CLASSES, make, row_methods, training_data

TESTS = Path(__file__).parent
ROOT = TESTS.parent

# Fits every public estimator with random_state=0 and prints a digest of its outputs.
SCRIPT = """
import hashlib, json, sys
import numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from _skae_estimators import CLASSES, make, row_methods, training_data
X = training_data(n_samples=60)
print(json.dumps({{cls.__name__: {{
    m: hashlib.sha256(np.ascontiguousarray(getattr(est, m)(X)).tobytes()).hexdigest()
    for m in row_methods(est)}}
    for cls in CLASSES for est in [make(cls, random_state=0).fit(X)]}}))
"""


def digests(est, X):
    return {
        m: hashlib.sha256(np.ascontiguousarray(getattr(est, m)(X)).tobytes()).hexdigest()
        for m in row_methods(est)
    }


def test_same_random_state_gives_identical_outputs_in_another_process():
    X = training_data(n_samples=60)
    here = {cls.__name__: digests(make(cls, random_state=0).fit(X), X) for cls in CLASSES}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tests=str(TESTS))],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    there = json.loads(result.stdout.strip().splitlines()[-1])
    assert there == here


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_different_random_states_give_different_models(cls):
    X = training_data(n_samples=60)
    a = digests(make(cls, random_state=0).fit(X), X)
    b = digests(make(cls, random_state=1).fit(X), X)
    assert a != b


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
def test_concurrent_inference_matches_sequential(cls):
    X = training_data(n_samples=400, seed=1)
    # dropout makes train mode visible in the outputs, should any call use it
    est = make(cls, dropout=0.5).fit(training_data())
    chunks = np.array_split(X, 8)
    methods = [m for m in ("transform", "score_samples") if hasattr(est, m)]
    jobs = [(m, i) for _ in range(5) for m in methods for i in range(len(chunks))]
    sequential = {(m, i): getattr(est, m)(chunks[i]) for m, i in jobs}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda job: getattr(est, job[0])(chunks[job[1]]), jobs))
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, sequential[job], err_msg=str(job))
