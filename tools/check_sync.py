"""Fail when notebooks are not clean or the package is out of step with them.

Copies settings.ini, nbs/ and the package to a temporary folder, runs nbdev_export and nbdev_clean there,
and compares: anything they would change means someone edited a generated file or forgot to export/clean.
Also checks that README.md is what tools/make_readme.py makes from nbs/index.ipynb, and that the results page
(results/README.md) holds every study table stored under results/ (results/*/*.md, written by `make report`) as it
is now.
"""
import filecmp, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / 'tools'))
from make_readme import readme_text
from make_results_page import page_text, tables_named, PAGE


def changed_files(a, b):
    "Relative paths that differ between folders a and b (files only, ignoring caches)."
    out = []
    for p in sorted(set(x.relative_to(a) for x in a.rglob('*') if x.is_file()) |
                    set(x.relative_to(b) for x in b.rglob('*') if x.is_file())):
        if '__pycache__' in p.parts or '.ipynb_checkpoints' in p.parts or 'data' in p.parts[:1]: continue
        if not ((a / p).exists() and (b / p).exists() and filecmp.cmp(a / p, b / p, shallow=False)): out.append(str(p))
    return out


def main():
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copy(ROOT / 'settings.ini', tmp)
        for d in ('nbs', 'batch_curation'):
            shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints', 'data'))
        for cmd in ('nbdev_export', 'nbdev_clean'):
            subprocess.run([str(BIN / cmd)], cwd=tmp, check=True, capture_output=True)
        for d in ('nbs', 'batch_curation'):
            problems += [f"{d}/{p}" for p in changed_files(ROOT / d, tmp / d)]
    if problems:
        print("out of step (run `make export` and commit):\n  " + "\n  ".join(problems)); sys.exit(1)
    if (ROOT / 'README.md').read_text() != readme_text():
        print("README.md is not what nbs/index.ipynb gives (run `make readme` and commit)"); sys.exit(1)
    named = set(tables_named())
    for table in sorted((ROOT / 'results').glob('*/*.md')):  # the study tables that `make report` wrote
        if table.name == 'README.md':  # a generated page of its own (the detector benchmark's): linked, not shown
            if f"({table.relative_to(PAGE.parent)})" not in PAGE.read_text():
                print(f"{table.relative_to(ROOT)} is not linked from results/README.md: link it"); sys.exit(1)
            continue
        if str(table.relative_to(PAGE.parent)) not in named:
            print(f"{table.relative_to(ROOT)} is not shown on results/README.md: add a table block for it"); sys.exit(1)
    if page_text() != PAGE.read_text():
        print("results/README.md is out of step with its tables (run `python tools/make_results_page.py`)"); sys.exit(1)
    print("notebooks clean, package, README.md, the results page and its tables in step")


if __name__ == '__main__': main()
