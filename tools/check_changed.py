"""The fast checks after a change (`make check`): about two minutes on 2 cores, where `make test` takes a quarter hour.

1. The rules every change must keep: code style (tests/test_style.py), the course's rules (tests/test_course.py), the
   import order of the modules (tests/test_import_order.py), notebooks clean and the package and README in step
   (tools/check_sync.py).
2. What the change touches: every file changed since --base (committed since then or not, and new files) names the
   notebooks and tests to run. A notebook (or its module, or its check notebook) runs itself and its check notebook
   (nbdev_test), and the quick test files that import its module; a changed test file runs itself. End-to-end test
   files (processes, the CLI, the website: SLOW) take minutes each: those that a change touches are named, to run
   with pytest before a commit, but not run here.

It prints what it picked and why; `make test` runs everything.
"""
import argparse, json, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RULES = ['tests/test_style.py', 'tests/test_course.py', 'tests/test_import_order.py']
SLOW = ('test_train.py', 'test_run_folder.py', 'test_nothing_lost.py', 'test_distributed.py', 'test_stored_runs.py',
        'test_notebooks.py', 'test_docs.py', 'test_make_study.py', 'test_benchmarks.py', 'test_first_hour.py',
        'test_divergence.py', 'test_report_faults.py')  # end to end: processes, the CLI, the website; minutes each


def changed_files(base:str)->list:
    "Paths changed since `base` (committed or not) and files git does not know yet."
    git = lambda *a: subprocess.run(['git', *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return sorted(set(git('diff', '--name-only', base)) | set(git('ls-files', '--others', '--exclude-standard')))


def module_of(nb:Path)->str|None:
    "The module a notebook exports (its `#| default_exp`), or None."
    if not nb.exists(): return None
    for c in json.loads(nb.read_text())['cells']:
        if m := re.search(r'#\|\s*default_exp\s+(\S+)', ''.join(c['source'])): return m.group(1)
    return None


def notebook_of(module:str)->Path|None:
    return next((nb for nb in sorted((ROOT / 'nbs').glob('*.ipynb')) if module_of(nb) == module), None)


def importers(module:str)->list:
    "Test files that import `batch_curation.module`."
    rx = re.compile(rf'batch_curation\.{module}\b|from batch_curation import .*\b{module}\b')
    return sorted(p.name for p in (ROOT / 'tests').glob('test_*.py') if rx.search(p.read_text()))


def pick(files:list)->tuple:
    "The notebooks and quick test files that `files` touch, the end-to-end test files they touch, and why."
    nbs, tests, slow, why = set(), set(), set(), {}
    for f in files:
        p, module = ROOT / f, None
        if f.startswith('nbs/') and f.endswith('.ipynb') and not Path(f).name.startswith('_'):
            module = module_of(ROOT / 'nbs' / Path(f).name)
            for nb in (ROOT / 'nbs' / Path(f).name, ROOT / 'nbs' / 'checks' / Path(f).name):
                if nb.exists() and nb.relative_to(ROOT).as_posix() not in nbs:
                    nbs.add(nb.relative_to(ROOT).as_posix())
                    why[nb.relative_to(ROOT).as_posix()] = f
        elif f.startswith('batch_curation/') and f.endswith('.py') and p.name not in ('_modidx.py', '__init__.py'):
            module = p.stem
            if (nb := notebook_of(module)) is not None: nbs.add(nb.relative_to(ROOT).as_posix())
        elif f.startswith('tests/test_') and f.endswith('.py') and p.exists():
            (slow if p.name in SLOW else tests).add(p.name)
            why[p.name] = f
        for t in importers(module) if module else []:
            (slow if t in SLOW else tests).add(t)
            why.setdefault(t, f"imports batch_curation.{module} ({f})")
    return sorted(nbs), sorted(tests), sorted(slow), why


def run(title:str, cmd:list)->bool:
    t0 = time.perf_counter()
    print(f"== {title}", flush=True)
    ok = subprocess.run(cmd, cwd=ROOT).returncode == 0
    print(f"   {'ok' if ok else 'FAILED'} in {time.perf_counter() - t0:.0f} s", flush=True)
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--base', default='HEAD', help='compare with this commit (default: HEAD, the uncommitted changes)')
    ap.add_argument('--dry-run', action='store_true', help='only say what would run')
    a = ap.parse_args(argv)
    nbs, tests, slow, why = pick(changed_files(a.base))
    print(f"changed since {a.base}: notebooks to run: {', '.join(nbs) or 'none'}; tests: {', '.join(tests) or 'none'}")
    for k in nbs + tests + slow:
        if k in why: print(f"  {k}: {why[k]}")
    if a.dry_run: return
    t0, ok = time.perf_counter(), True
    ok &= run('rules: style, course, import order', [str(BIN / 'python'), '-m', 'pytest', '-q', '-n', '2', *RULES])
    ok &= run('notebooks clean, package and README in step', [str(BIN / 'python'), 'tools/check_sync.py'])
    for nb in nbs: ok &= run(f'notebook {nb}', [str(BIN / 'nbdev_test'), '--path', nb, '--do_print'])
    if tests: ok &= run('tests ' + ' '.join(tests), [str(BIN / 'python'), '-m', 'pytest', '-q', '-n', '2',
                                                      *(f'tests/{t}' for t in tests)])
    print(f"make check: {'all passed' if ok else 'FAILED'} in {time.perf_counter() - t0:.0f} s "
          "(make test runs every notebook and test)")
    if slow: print(f"the change also touches end-to-end tests, minutes each, not run here: {' '.join(slow)}; before "
                   f"a commit: OMP_NUM_THREADS=1 .venv/bin/python -m pytest -n 2 {' '.join('tests/' + t for t in slow)}")
    sys.exit(0 if ok else 1)


if __name__ == '__main__': main()
