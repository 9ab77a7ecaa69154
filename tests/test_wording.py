"""One wording of the label oracle wherever a learner reads: a reference, what perfect negative detection does here,
not a bound (at CPU scale HCL, which reads no labels, gains more than the oracle over the baseline).

The text a learner meets is searched: every notebook (its markdown, code and text outputs, the check notebooks too),
the docstrings, strings and comments of the package, README.md, the results page and the site's own files in docs/.
A paragraph (a block of text between blank lines; in the package, one top-level definition) that says "upper bound"
and speaks of the oracle or the labels fails, whether it asserts the bound or denies it: say "a reference, not a
bound" instead.
"""
import ast, io, json, re, tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUND = re.compile(r'upper[\s-]+bound', re.I)
ORACLE = re.compile(r'oracle|\blabels?\b', re.I)


def paragraphs(text):
    return [p for p in re.split(r'\n\s*\n', text) if p.strip()]


def notebook_texts(path):
    "The paragraphs of a notebook: markdown, code and the text its cells print."
    out = []
    for c in json.loads(path.read_text())['cells']:
        out += paragraphs(''.join(c['source']))
        for o in c.get('outputs', []):
            text = o.get('text') or o.get('data', {}).get('text/markdown') or o.get('data', {}).get('text/plain') or ''
            out += paragraphs(''.join(text))
    return out


def module_texts(source):
    "Per top-level statement of a module: the names it defines, its strings (docstrings, help) and comments, in one."
    tree = ast.parse(source)
    comments = {}
    for t in tokenize.generate_tokens(io.StringIO(source).readline):
        if t.type == tokenize.COMMENT: comments.setdefault(t.start[0], []).append(t.string)
    out = []
    for node in tree.body:
        lines = range(node.lineno, node.end_lineno + 1)
        strings = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        names = [n.name for n in ast.walk(node) if isinstance(n, (ast.ClassDef, ast.FunctionDef))]  # OracleNegativesCB
        out.append('\n'.join(names + strings + [c for i in lines for c in comments.get(i, [])]))
    return out


def learner_texts(root=ROOT):
    "(file, paragraph) for everything a learner reads."
    for nb in sorted((root / 'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' not in nb.parts: yield from ((nb, p) for p in notebook_texts(nb))
    for py in sorted((root / 'batch_curation').glob('*.py')):
        if py.name != '_modidx.py': yield from ((py, p) for p in module_texts(py.read_text()))
    for md in [root / 'README.md', root / 'results' / 'README.md']:
        if md.exists(): yield from ((md, p) for p in paragraphs(md.read_text()))
    for f in sorted((root / 'docs').rglob('*')):
        if f.suffix in ('.md', '.py', '.rst', '.txt', '.html', '.css'): yield from ((f, p) for p in paragraphs(f.read_text()))


def bound_of_the_oracle(paragraph):
    return bool(BOUND.search(paragraph) and ORACLE.search(paragraph))


def test_the_search_finds_what_it_should():
    assert bound_of_the_oracle("### The oracle: an upper bound for the negative side")
    assert bound_of_the_oracle("mask true same-class negatives (uses labels: an upper-bound)")
    assert bound_of_the_oracle("The oracle is therefore not an upper\nbound for negative-side curation")
    assert not bound_of_the_oracle("The oracle: a reference, what perfect negative detection does here; not a bound")
    assert not bound_of_the_oracle("the upper bound of the interval")
    src = 'class OracleCB:\n    "Mask same-class pairs: an upper bound."\n\ndef f(): pass  # an upper bound of a loop\n'
    assert [bound_of_the_oracle(p) for p in module_texts(src)] == [True, False]


def test_no_upper_bound_is_said_of_the_oracle():
    found = sorted({f"{path.relative_to(ROOT)}: {BOUND.search(p).group(0)!r} in "
                    f"{' '.join(p[max(0, BOUND.search(p).start() - 60):BOUND.search(p).end() + 20].split())!r}"
                    for path, p in learner_texts() if bound_of_the_oracle(p)})
    assert not found, ("the label oracle is a reference (what perfect negative detection does here), not a bound; "
                       "say so instead of:\n  " + '\n  '.join(found))
