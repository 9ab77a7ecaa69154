"""Build the course website: every notebook a page with its stored outputs, the study's results, an API page per module.

    python tools/build_docs.py                    # the site in _docs/html (open _docs/html/index.html)
    python tools/build_docs.py --results results/README.md --out /tmp/site

Nothing is executed: the notebooks are shown with the outputs they are stored with. The pages are found by pattern,
in filename order (the reading order): `nbs/index.ipynb` is the home page, then the course `nbs/[0-9]*.ipynb`, the
appendices `nbs/A*_*.ipynb`, the results page(s), the check notebooks `nbs/checks/*.ipynb` in their own section, and
one API page per module of the package. Names starting with `_` are scratch and left out.

The sources are staged in `_proc/` first, where nbdev's cell directives become MyST-NB tags (`#| hide` removes a cell,
`#| echo: false` its code, `#| output: false` its outputs, `#| code-fold` folds the code), directive lines are dropped,
relative links are pointed at the staged pages and images (or at the repository on GitHub for other files), and an
anchor is put before the paragraph that introduces each exported name, which its API entry links to. Sphinx with
MyST-NB and the book theme (configuration in `docs/conf.py`) then renders the staged folder.
"""
import argparse, ast, configparser, dataclasses, html, importlib, inspect, json, os, re, shutil, subprocess, sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
DEFAULT_RESULTS = ['results/README.md']  # the study's results page(s), Markdown or notebooks; --results for others
IMAGE_EXTS = {'.png', '.jpg', '.jpeg', '.gif', '.svg', '.webp'}


def settings():
    cfg = configparser.ConfigParser(delimiters=['='])
    cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return cfg['DEFAULT']


# ------------------------------------------------------------------ which pages, in which order

def notebook_pages(nbs=NBS):
    "The notebooks of the site by section, each in filename order: course, appendices, checks."
    def found(folder, pattern): return sorted(p for p in folder.glob(pattern) if not p.name.startswith('_'))
    return {'course': found(nbs, '[0-9]*.ipynb'), 'appendices': found(nbs, 'A*_*.ipynb'),
            'checks': found(nbs / 'checks', '*.ipynb') if (nbs / 'checks').is_dir() else []}


def staged_name(src):
    "Where a source file lands in the staging folder (and so the site), relative to it."
    src = Path(src).resolve()
    if src.parent == NBS: return Path(src.name)
    return src.relative_to(ROOT if not src.is_relative_to(NBS) else NBS)


def module_notebooks(nbs):
    "module name -> the notebook whose `#| default_exp` exports it."
    out = {}
    for nb in nbs:
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'code' and (m := re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)):
                out[m.group(1)] = nb
                break
    return out


# ------------------------------------------------------------------ markdown: links and anchors

CODE = re.compile(r'(```.*?```|~~~.*?~~~|`[^`\n]+`)', re.S)
LINK = re.compile(r'(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()([^)\s]+)((?:\s+"[^"]*")?\))')
HTML_SRC = re.compile(r'((?:src|href)=")([^"]+)(")')


class Stager:
    "Copies sources into the staging folder, rewriting what has to change for the site."
    def __init__(self, stage, pages, cfg):
        self.stage, self.pages, self.cfg = stage, pages, cfg  # pages: repo path (resolved) -> staged relative path
        self.repo_url = f"{cfg['git_url'].rstrip('/')}/blob/{cfg.get('branch', 'main')}/"
        self.stems = {}  # a code span naming a notebook links to it; the course's own wins over a check notebook's
        for p, rel in pages.items():
            if p.suffix == '.ipynb': self.stems.setdefault(p.stem, rel)

    def target(self, src_dir, staged_from, url):
        "The link `url` found in a file in `src_dir` (staged as `staged_from`), as it should read on the site."
        if re.match(r'^[a-z][a-z0-9+.-]*:|^#|^/', url, re.I): return url
        path, _, frag = url.partition('#')
        real = (src_dir / path).resolve()
        if not real.is_relative_to(ROOT) or not real.exists(): return url  # left to the link check to report
        if real in self.pages: dest = self.pages[real]
        elif real.suffix.lower() in IMAGE_EXTS and not real.is_relative_to(self.stage):
            dest = real.relative_to(ROOT)
            (self.stage / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, self.stage / dest)
        else:  # a file of the repository that is not part of the site: read it on GitHub
            kind = 'tree/' if real.is_dir() else 'blob/'
            return self.repo_url.replace('blob/', kind) + str(real.relative_to(ROOT)) + (f'#{frag}' if frag else '')
        rel = os.path.relpath(dest, staged_from.parent)
        return rel + (f'#{frag}' if frag else '')

    def markdown(self, text, src_dir, staged_from):
        "Rewrite links outside code; a code span naming a page (`02_simclr`) becomes a link to it."
        def fix(part):
            part = LINK.sub(lambda m: m.group(1) + self.target(src_dir, staged_from, m.group(2)) + m.group(3), part)
            return HTML_SRC.sub(lambda m: m.group(1) + self.target(src_dir, staged_from, m.group(2)) + m.group(3), part)
        out, pos = [], 0
        for m in CODE.finditer(text):
            out.append(fix(text[pos:m.start()]))
            code = m.group(0)
            name = code.strip('`')
            in_link = text[max(0, m.start() - 1):m.start()] == '['
            if not code.startswith('```') and name in self.stems and not in_link:
                code = f"[{code}]({os.path.relpath(self.stems[name], staged_from.parent)})"
            out.append(code)
            pos = m.end()
        out.append(fix(text[pos:]))
        return ''.join(out)


DIRECTIVE = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')


def cell_tags(source):
    "MyST-NB tags for nbdev's directives in a code cell, and the source without its directive lines."
    tags, keep = [], []
    for line in source.splitlines():
        m = DIRECTIVE.match(line)
        if not m:
            keep.append(line)
            continue
        key, val = m.group(1).lower(), m.group(2).lower()
        if key == 'hide' or (key == 'include' and val == 'false'): tags.append('remove-cell')
        elif key == 'echo' and val == 'false': tags.append('remove-input')
        elif key == 'output' and val == 'false': tags.append('remove-output')
        elif key == 'code-fold' and val in ('true', 'show'): tags.append('hide-input')
    return tags, '\n'.join(keep).strip('\n')


def stage_notebook(stager, src, anchors=None, title=None, extra_cells=()):
    "Write the staged copy of notebook `src`; `anchors` maps a cell id to the exported names it defines."
    nb = json.loads(src.read_text())
    dest = stager.pages[src.resolve()]
    cells = []
    for c in nb['cells']:
        c = dict(c)
        src_text = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            c['source'] = stager.markdown(src_text, src.parent, dest)
        elif c['cell_type'] == 'code':
            tags, code = cell_tags(src_text)
            if not code and not c.get('outputs'): continue  # only directives (`#| default_exp`): nothing to show
            c['source'] = code
            c['metadata'] = {**c.get('metadata', {}), 'tags': sorted(set(c.get('metadata', {}).get('tags', []) + tags))}
        cells.append(c)
    first_md = next((c for c in cells if c['cell_type'] == 'markdown'), None)
    has_title = first_md is not None and first_md['source'].lstrip().startswith('# ')
    # each exported name: an anchor before the markdown cell that introduces the cell defining it (or before the cell
    # itself), which its API entry links to, and after the cell a link to that entry
    anchors = anchors or {}
    for i in reversed(range(len(cells))):
        names = anchors.get(cells[i].get('id'))
        if not names: continue
        refs = ' · '.join(f'<a href="{os.path.relpath(page, dest.parent)}#{full}"><code>{html.escape(n)}</code></a>'
                          for _, page, full, n in names)
        link_cell = {'cell_type': 'markdown', 'metadata': {}, 'source': f'<p class="bc-api-ref">API: {refs}</p>'}
        cells.insert(i + 1, link_cell)
        at = i - 1 if i and cells[i - 1]['cell_type'] == 'markdown' else i
        ids = ''.join(f'<span id="{a}"></span>' for a, *_ in names)
        cells.insert(at, {'cell_type': 'markdown', 'metadata': {}, 'source': ids})
    if title or not has_title:
        title = title or (f"Checks: {src.stem}" if src.parent.name == 'checks' else src.stem)
        cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': f"# {title}"})
    cells += [{'cell_type': 'markdown', 'metadata': {}, 'source': t} for t in extra_cells]
    for c in cells:
        c.pop('id', None)  # staged cells need no ids; inserted ones have none
    nb['cells'] = cells
    nb['nbformat_minor'] = 4
    (stager.stage / dest).parent.mkdir(parents=True, exist_ok=True)
    (stager.stage / dest).write_text(json.dumps(nb, indent=1))


def section_of(src, cell_id):
    "The heading of the notebook section holding cell `cell_id` (the title when it comes before any section)."
    heading = None
    for c in json.loads(src.read_text())['cells']:
        if c['cell_type'] == 'markdown':
            for line in ''.join(c['source']).splitlines():
                if m := re.match(r'#{1,6}\s+(.+)', line): heading = m.group(1).strip()
        if c.get('id') == cell_id: break
    return heading


def notebook_title(src):
    for c in json.loads(src.read_text())['cells']:
        if c['cell_type'] == 'markdown' and (m := re.match(r'\s*#\s+(.+)', ''.join(c['source']))):
            return m.group(1).strip()
    return src.stem


# ------------------------------------------------------------------ API pages

def definitions(py_path):
    "name -> (notebook path, cell id) for every top-level name the exported module defines, from nbdev's `# %%` marks."
    text = py_path.read_text()
    marks = [(i + 1, m) for i, line in enumerate(text.splitlines())
             if (m := re.match(r'# %% (\S+\.ipynb) #(\w+)', line))]
    out = {}
    for node in ast.parse(text).body:
        names = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name): names = [node.target.id]
        first = min([node.lineno] + [d.lineno for d in getattr(node, 'decorator_list', [])])
        before = [m for line, m in marks if line < first]
        if not before: continue
        nb, cell = (py_path.parent / before[-1].group(1)).resolve(), before[-1].group(2)
        for n in names: out.setdefault(n, (nb, cell))
    return out


def function_node(obj):
    "The ast of a function's definition (a class: of its `__init__`), or None when there is no source to read."
    try: src = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError): return None
    node = ast.parse(src).body[0]
    if isinstance(node, ast.ClassDef):
        return next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == '__init__'), None)
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def parameters(obj):
    "[(name, annotation text, default text)] as the source writes them, without `self`; and the return annotation."
    node = function_node(obj)
    if node is None:  # a dataclass or a class without its own `__init__`: what inspect sees
        try: sig = inspect.signature(obj)
        except (TypeError, ValueError): return [], None
        ann = lambda a: '' if a is inspect.Parameter.empty else inspect.formatannotation(a)
        factories = {f.name: f'{f.default_factory.__name__}()' for f in dataclasses.fields(obj)
                     if f.default_factory is not dataclasses.MISSING} if dataclasses.is_dataclass(obj) else {}
        default = lambda p: '' if p.default is p.empty else factories.get(p.name, repr(p.default))
        return [(('*' if p.kind == p.VAR_POSITIONAL else '**' if p.kind == p.VAR_KEYWORD else '') + p.name,
                 ann(p.annotation), default(p)) for p in sig.parameters.values()], None
    a, out = node.args, []
    pos = a.posonlyargs + a.args
    defaults = [None] * (len(pos) - len(a.defaults)) + a.defaults
    for arg, d in zip(pos, defaults): out.append((arg.arg, arg.annotation, d))
    if a.vararg: out.append(('*' + a.vararg.arg, a.vararg.annotation, None))
    elif a.kwonlyargs: out.append(('*', None, None))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults): out.append((arg.arg, arg.annotation, d))
    if a.kwarg: out.append(('**' + a.kwarg.arg, a.kwarg.annotation, None))
    text = lambda n: ast.unparse(n) if n is not None else ''
    out = [(n, text(an), text(d) if simple(d) else '...') for n, an, d in out if n not in ('self', 'cls')]
    return out, text(node.returns) or None


SIMPLE = (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.UnaryOp, ast.BinOp,
          ast.Call, ast.keyword, ast.Load, ast.operator, ast.unaryop)


def simple(node):
    "Whether a default value reads plainly in a signature (Sphinx cannot show a generator expression, say)."
    return node is None or all(isinstance(n, SIMPLE) for n in ast.walk(node))


def signature_text(name, params, returns, kw_only_after=None):
    args = []
    for n, an, d in params:
        args.append(n + (f': {an}' if an else '') + ((' = ' if an else '=') + d if d else ''))
    return f"{name}({', '.join(args)})" + (f" -> {returns}" if returns else '')


def docments_of(obj):
    "Parameter name -> its nbdev comment (and 'return' -> the return comment)."
    from fastcore.docments import docments
    try: return {k: v for k, v in docments(obj, full=False, returns=True).items() if v}
    except Exception: return {}


class ApiWriter:
    def __init__(self, names_everywhere):
        self.everywhere = names_everywhere  # every name in any module's __all__

    def md(self, text):
        "Docstring or comment text as MyST: a code span naming an exported name becomes a cross-reference."
        def link(m):
            name = m.group(1)
            return f"{{py:obj}}`{name}`" if name in self.everywhere else m.group(0)
        text = re.sub(r'`([A-Za-z_][\w.]*)`', link, text or '')
        # outside code spans `<` and `>` are text, not HTML: "src/<class>/<image>" must not become an <image> tag
        parts = re.split(r'(`[^`]*`)', text)
        text = ''.join(x if x.startswith('`') else x.replace('<', '&lt;').replace('>', '&gt;') for x in parts)
        return text.replace('|', '\\|').replace('\n', ' ')

    def table(self, params, returns, docs):
        rows = [(f"`{n}`", f"`{an}`" if an else '', f"`{d}`" if d else '', self.md(docs.get(n.lstrip('*'), '')))
                for n, an, d in params if n != '*']
        if docs.get('return') or returns: rows.append(('**returns**', f"`{returns}`" if returns else '', '',
                                                      self.md(docs.get('return', ''))))
        if not any(r[3] or r[1] for r in rows): return ''
        esc = lambda s: s.replace('|', '\\|') if s.startswith('`') else s
        lines = ['| | type | default | details |', '|---|---|---|---|']
        lines += ['| ' + ' | '.join(esc(x) for x in r) + ' |' for r in rows]
        return '\n'.join(lines)

    def entry(self, name, obj, mod, where, kind=None, indent=''):
        "One object as a MyST py-domain directive: signature, docstring, parameter table, link to its notebook."
        body = []
        if kind is None:
            kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else 'data'
        if kind == 'property':
            sig, opts = name, []
            if inspect.getdoc(obj): body.append(self.md(inspect.getdoc(obj)))
        elif kind == 'data':
            value = repr(obj)
            sig, opts = name, []
            body.append(f"`{name} = {value[:300] + ' ...' if len(value) > 300 else value}`")
        else:
            params, returns = parameters(obj)
            sig = signature_text(name, params, returns if kind != 'class' else None)
            opts = []
            doc = inspect.getdoc(obj) if (kind != 'class' or obj.__doc__) else None
            if doc: body.append(self.md(doc) if '\n' not in doc.strip() else doc)
            own_init = kind == 'class' and '__init__' in vars(obj) and not dataclasses.is_dataclass(obj)
            target = obj.__init__ if own_init else obj
            tbl = self.table(params, returns if kind != 'class' else None, docments_of(target))
            if tbl: body.append(tbl)
        if where: body.append(where)
        if kind == 'class':
            for mname, meth in vars(obj).items():
                public = not mname.startswith('_') or mname == '__call__'
                if not public or not (inspect.isfunction(meth) or isinstance(meth, property)): continue
                if isinstance(meth, property):
                    body.append(self.entry(mname, meth.fget, mod, None, kind='property', indent=indent + '  '))
                else:
                    body.append(self.entry(mname, meth, mod, None, kind='method', indent=indent + '  '))
        fence = ':' * (3 + (2 if kind == 'class' else 0))
        head = f"{fence}{{py:{kind}}} {sig}"
        text = '\n'.join([head] + opts + [''] + ['\n\n'.join(body), fence])
        return text


def defined_in(name, loaded, importer):
    "The other module of the package that defines `name`: a function's or class's own, else the first assigning it."
    home = (getattr(getattr(loaded[importer], name), '__module__', None) or '').rpartition('.')[2]
    if home in loaded and home != importer: return home
    for m, mod in loaded.items():
        if m != importer and name in definitions(Path(mod.__file__)): return m
    return None


def reexports(pkg, m, homes, nb_of):
    "The names module `m` imports back from another module: each a link to its entry there, and an anchor here."
    parts = []
    for home in dict.fromkeys(homes.values()):
        names = [n for n, h in homes.items() if h == home]
        links = ', '.join(f'<span id="{pkg}.{m}.{n}"></span><a href="{home}.html#{pkg}.{home}.{n}"><code>{n}</code></a>'
                          for n in names)
        nb = f" ({nb_of[home].stem})" if home in nb_of else ''
        parts.append(f"Also importable from `{pkg}.{m}`, built in `{pkg}.{home}`{nb}: {links}.")
    return '## Names from other modules\n\n' + '\n\n'.join(parts)


def stage_api(stager, stage, modules, nb_of, anchors):
    "Write one API page per module; fill `anchors` (notebook -> cell id -> anchor ids) for the notebook side."
    pkg = stager.cfg['lib_path']
    loaded = {m: importlib.import_module(f'{pkg}.{m}') for m in modules}
    everywhere = {n for mod in loaded.values() for n in getattr(mod, '__all__', [])}
    writer, pages = ApiWriter(everywhere), []
    for m, mod in loaded.items():
        nb = nb_of.get(m)
        defs = definitions(Path(mod.__file__))
        nb_page = stager.pages.get(nb.resolve()) if nb else None
        parts = [f"# {pkg}.{m}", '']
        if mod.__doc__: parts += [f"> {mod.__doc__.strip()}", '']
        if nb_page:
            parts += [f"Built, explained and tested in the notebook <a href=\"../{nb_page.with_suffix('.html')}\">"
                      f"{nb.stem}: {notebook_title(nb)}</a>. Every name below links to the section that builds it.", '']
        parts += [f"```python\nfrom {pkg}.{m} import *\n```", '', f"```{{py:module}} {pkg}.{m}\n```", '']
        names = getattr(mod, '__all__', [])
        elsewhere = {n: home for n in names if n not in defs and (home := defined_in(n, loaded, m))}
        names = [n for n in names if n not in elsewhere]
        for name in sorted(names, key=lambda n: not callable(getattr(mod, n))):  # classes and functions, then constants
            obj = getattr(mod, name)
            where = None
            if name in defs and defs[name][0] in stager.pages:
                src_nb, cell = defs[name]
                aid = f"def-{name}"
                api_page = (Path('api') / f'{m}.md').with_suffix('.html')
                anchors.setdefault(src_nb, {}).setdefault(cell, []).append((aid, api_page, f'{pkg}.{m}.{name}', name))
                page = stager.pages[src_nb].with_suffix('.html')
                section = (section_of(src_nb, cell) or notebook_title(src_nb)).replace('`', '')
                where = (f'<a class="bc-source" href="../{page}#{aid}">Built in {src_nb.stem}, '
                         f'<em>{html.escape(section)}</em></a>')
            parts += [writer.entry(name, obj, m, where), '']
        if elsewhere: parts += [reexports(pkg, m, elsewhere, nb_of), '']
        dest = Path('api') / f'{m}.md'
        (stage / dest).parent.mkdir(parents=True, exist_ok=True)
        (stage / dest).write_text('\n'.join(parts))
        pages.append(dest)
    return pages


# ------------------------------------------------------------------ the whole site

def toctree(caption, entries):
    if not entries: return ''
    lines = [f"```{{toctree}}", ":hidden:", f":caption: {caption}", ""]
    lines += [f"{title} <{Path(doc).with_suffix('').as_posix()}>" if title else Path(doc).with_suffix('').as_posix()
              for title, doc in entries]
    return '\n'.join(lines + ["```"])


CHECKS_INDEX = Path('checks') / 'index.md'


def stage_checks_index(stage, checks, pages):
    "One page that holds the check notebooks: a single entry of the sidebar, its notebooks folded under it."
    entries = [(f"checks · {p.stem}", pages[p.resolve()].relative_to('checks')) for p in checks]
    text = ["# Edge cases and error paths", "",
            "Each notebook's error paths, edge cases and regression checks, kept out of the reader's way in a companion "
            "notebook of the same name; `nbdev_test` runs them with the rest. Read the course first: these pages are "
            "for when a check fails, or to see how a function behaves at its edges.", "",
            toctree_list(entries)]
    (stage / CHECKS_INDEX).parent.mkdir(parents=True, exist_ok=True)
    (stage / CHECKS_INDEX).write_text('\n'.join(text) + '\n')
    return CHECKS_INDEX


def toctree_list(entries):
    "A visible toctree of (title, document) entries, one level deep."
    lines = ["```{toctree}", ":maxdepth: 1", ""]
    lines += [f"{title} <{Path(doc).with_suffix('').as_posix()}>" for title, doc in entries]
    return '\n'.join(lines + ["```"])


def stage_site(stage, results=None):
    "Stage every page of the site in `stage`; returns the list of staged pages by section."
    cfg = settings()
    if stage.exists(): shutil.rmtree(stage)
    stage.mkdir(parents=True)
    sections = notebook_pages()
    results = [ROOT / r for r in (DEFAULT_RESULTS if results is None else results)]
    for r in results:
        if not r.exists(): print(f"no results page {r.relative_to(ROOT)}: left out")
    results = [r for r in results if r.exists()]
    pages = {p.resolve(): staged_name(p) for sec in sections.values() for p in sec}
    pages[(NBS / 'index.ipynb').resolve()] = Path('index.ipynb')
    for r in results: pages[r.resolve()] = r.resolve().relative_to(ROOT)
    stager = Stager(stage, pages, cfg)
    nb_of = module_notebooks(sections['course'] + sections['appendices'])
    modules = sorted(nb_of, key=lambda m: nb_of[m].name)
    anchors = {}
    api_pages = stage_api(stager, stage, modules, nb_of, anchors)
    entries = lambda nbs: [(f"{p.stem.split('_')[0]} · {notebook_title(p)}", pages[p.resolve()]) for p in nbs]
    trees = [toctree('Course', entries(sections['course'])), toctree('Appendices', entries(sections['appendices'])),
             toctree('Results', [(None, pages[r.resolve()]) for r in results]),
             toctree('API reference', [(f"{cfg['lib_path']}.{p.stem}", p) for p in api_pages]),
             toctree('Check notebooks', [(None, stage_checks_index(stage, sections['checks'], pages))])
             if sections['checks'] else '']
    stage_notebook(stager, NBS / 'index.ipynb', extra_cells=[t for t in trees if t])
    for sec in sections.values():
        for p in sec: stage_notebook(stager, p, anchors.get(p.resolve()))
    for r in results:  # a Markdown file, or a notebook
        if r.suffix == '.ipynb':
            stage_notebook(stager, r)
            continue
        dest = stage / pages[r.resolve()]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(stager.markdown(r.read_text(), r.parent, pages[r.resolve()]))
    return {**sections, 'results': results, 'api': api_pages}


def build(out=ROOT / '_docs', stage=ROOT / '_proc', results=None, quiet=True):
    "Stage the sources and render them with Sphinx into `out`/html; returns the pages by section."
    out, stage = Path(out).resolve(), Path(stage).resolve()
    sys.path.insert(0, str(ROOT))
    staged = stage_site(stage, results)
    html = out / 'html'
    if html.exists(): shutil.rmtree(html)
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(ROOT / 'docs'), '-d', str(out / 'doctrees'),
           '-W', '--keep-going', '-E', str(stage), str(html)] + (['-q'] if quiet else [])
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    subprocess.run(cmd, check=True, env=env)
    # the download button offers each page's source: the notebook itself, not its staged copy
    for src in [NBS / 'index.ipynb'] + staged['course'] + staged['appendices'] + staged['checks']:
        if (dest := html / '_sources' / staged_name(src)).exists(): shutil.copy2(src, dest)
    return staged


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=str(ROOT / '_docs'), help='build folder: the site goes in OUT/html')
    ap.add_argument('--stage', default=str(ROOT / '_proc'), help='where the sources are staged')
    ap.add_argument('--results', nargs='*', default=None,
                    help=f"results pages, Markdown or notebooks (default: {' '.join(DEFAULT_RESULTS)})")
    args = ap.parse_args()
    try: build(args.out, args.stage, args.results, quiet=False)
    except subprocess.CalledProcessError as e: sys.exit(f"the site did not build (sphinx exited with {e.returncode})")
    print(f"site written to {Path(args.out) / 'html'}: open index.html")
