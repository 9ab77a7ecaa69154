"""`make study` under the faults of a long study: killed mid-run, run twice at once, a bad or edited arm.

A study of many hours must continue after kill -9, must not let a second study on its output folder write over its
logs, and must not train for hours before finding an arm it cannot run or mixing runs of an edited arm with the old
ones. The stand-in study of tests/test_make_study.py, and once the real bc_train (smoke preset, a few seconds)."""
import fcntl, json, os, shlex, signal, subprocess, time
from pathlib import Path
import pytest
from test_make_study import Study, ROOT


def wait_for(path:Path, timeout=240):
    t0 = time.monotonic()
    while not path.exists():
        if time.monotonic() - t0 > timeout: raise TimeoutError(f"{path} did not appear in {timeout} s")
        time.sleep(0.02)


# ---- kill -9 ----

SMOKE = '\n'.join(['preset = "smoke"', 'epochs = 2', 'threads = 1', 'knn_k = 5', 'test_subset = 200',
                   'checkpoint_every = 1', 'curation_seed = 0']) + '\n'


def test_a_study_killed_in_a_first_epoch_continues(tmp_path):
    "The real bc_train: a run killed before its first checkpoint left config.json only; the study starts it again."
    real = f'#!/bin/sh\nexec {shlex.quote(str(ROOT / ".venv" / "bin" / "bc_train"))} "$@"\n'
    if not (ROOT / '.venv' / 'bin' / 'bc_train').exists(): pytest.skip('no .venv/bin/bc_train')
    s = Study(tmp_path, trainer=real, arms=('smoke',), toml=SMOKE)
    run = s.out / 'smoke-s0'
    p = subprocess.Popen(s.argv('SEEDS=0'), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    try: wait_for(run / 'config.json')  # written as training starts
    finally: os.killpg(p.pid, signal.SIGKILL)  # make, xargs, the runner and bc_train at once
    p.wait(timeout=30)
    assert not (run / 'checkpoint.pt').exists(), 'killed too late: the first epoch had finished'
    left = sorted(f.name for f in run.iterdir())
    r, _ = s.make('SEEDS=0', env={'OMP_NUM_THREADS': '1'}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (run / 'summary.json').exists() and 'restarting: ' in r.stdout and 'done: ' in r.stdout, r.stdout
    kept, = (s.out / 'logs' / 'restarted').iterdir()  # what the killed run wrote, kept
    assert kept.name.startswith('smoke-s0.') and sorted(f.name for f in kept.iterdir()) == left
    log = (s.out / 'logs' / 'smoke-s0.log').read_text()
    assert log.count('make study: starting') == 2 and 'moved to' in log and 'exit status 0' in log, log  # appended


# ---- two studies on one folder ----

def test_two_studies_on_one_folder_share_the_runs(tmp_path):
    s = Study(tmp_path)
    hold = tmp_path / 'release'
    first = subprocess.Popen(s.argv('SEEDS=0', 'ARMS=a-arm'), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, 'FAKE_TRAIN_HOLD': str(hold)})
    try:
        wait_for(s.out / 'a-arm-s0' / 'config.json')  # the first study trains a-arm-s0, and holds it
        r, calls = s.make('SEEDS=0', 'ARMS=a-arm b-arm')
    finally: hold.touch()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0 and 'done: ' in out, out + err
    assert r.returncode != 0 and 'busy: ' in r.stderr and 'a-arm-s0 is being trained by another study' in r.stderr
    assert calls == ['start a-arm-s0 0', 'start b-arm-s0 0']  # the first study's run once; the second trains what is free
    log = (s.out / 'logs' / 'a-arm-s0.log').read_text()
    assert 'trained a-arm-s0' in log and 'busy' not in log and log.count('make study: starting') == 1, log


def test_a_run_that_bc_train_holds_is_left_to_it(tmp_path):
    s = Study(tmp_path)
    run = s.out / 'a-arm-s1'
    run.mkdir(parents=True)
    fd = os.open(run, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as bc_train holds the folder of a run it trains
    try: r, calls = s.make('SEEDS=1', 'ARMS=a-arm')
    finally: os.close(fd)
    assert r.returncode != 0 and 'a-arm-s1 is being trained by another study or bc_train' in r.stderr, r.stderr
    assert calls == [] and list(run.iterdir()) == []


# ---- the arms, checked before the first run ----

def test_a_bad_arm_stops_the_study_before_any_run(tmp_path):
    s = Study(tmp_path)
    (s.cfgs / 'b-arm.toml').write_text('epochs = 1\ntemperature = "0.2\n')  # malformed
    (s.cfgs / 'c-arm.toml').write_text('epochs = 1\nbatchsize = 64\n')  # misspelt
    r, calls = s.make('SEEDS=0 1')
    assert r.returncode != 0 and calls == [] and not s.out.exists(), r.stdout
    assert 'nothing was started' in r.stderr and 'b-arm.toml: cannot parse it' in r.stderr, r.stderr
    assert "c-arm.toml: unknown settings ['batchsize']" in r.stderr and 'a-arm' not in r.stderr, r.stderr


def test_bad_seeds_are_named(tmp_path):
    r, calls = Study(tmp_path).make('SEEDS=0 one')
    assert r.returncode != 0 and calls == [] and "SEEDS: 'one' is not a seed" in r.stderr, r.stderr


def test_an_arm_edited_after_its_runs_is_refused(tmp_path):
    s = Study(tmp_path)
    r, calls = s.make('SEEDS=0', 'ARMS=a-arm')
    assert r.returncode == 0 and calls == ['start a-arm-s0 0'], r.stderr
    (s.cfgs / 'a-arm.toml').write_text('epochs = 1\ntemperature = 0.2\n')  # another temperature, for more seeds
    r, calls = s.make('SEEDS=1 2', 'ARMS=a-arm')
    assert r.returncode != 0 and calls == [], r.stdout
    assert 'a-arm-s0 was trained with other settings than' in r.stderr, r.stderr
    assert 'temperature 0.5 in a-arm-s0, 0.2 in a-arm.toml' in r.stderr, r.stderr
    (s.cfgs / 'a-arm.toml').write_text('epochs = 1\ntemperature = 0.5\nthreads = 3\n')  # the same arm, run elsewhere
    r, calls = s.make('SEEDS=1', 'ARMS=a-arm')
    assert r.returncode == 0 and calls == ['start a-arm-s1 1'], r.stderr


def test_a_folder_with_other_files_is_not_touched(tmp_path):
    s = Study(tmp_path)
    run = s.out / 'a-arm-s0'
    run.mkdir(parents=True)
    (run / 'config.json').write_text('{}')
    (run / 'notes.txt').write_text('mine')  # not something a stopped run leaves
    r, calls = s.make('SEEDS=0', 'ARMS=a-arm b-arm')
    assert r.returncode != 0 and 'FAILED: ' in r.stderr and 'notes.txt' in r.stderr, r.stderr
    assert sorted(f.name for f in run.iterdir()) == ['config.json', 'notes.txt'] and calls == ['start b-arm-s0 0']


def test_a_diverged_run_is_left_for_a_person(tmp_path):
    "At its own rate it would train into the same NaN: the study says so and goes on with the other runs."
    s = Study(tmp_path)
    run = s.out / 'a-arm-s0'
    run.mkdir(parents=True)
    for f in ('config.json', 'diverged.json'): (run / f).write_text('{}')
    r, calls = s.make('SEEDS=0', 'ARMS=a-arm b-arm')
    assert r.returncode != 0 and f'FAILED: {run} diverged' in r.stderr and '--lr RATE' in r.stderr, r.stderr
    assert sorted(f.name for f in run.iterdir()) == ['config.json', 'diverged.json'] and calls == ['start b-arm-s0 0']
