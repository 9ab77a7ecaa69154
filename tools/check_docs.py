"""Open every page of the built site (`make docs`) in headless Chromium, as a reader would, and fail on what is wrong.

    python tools/check_docs.py [--site _docs/html] [--shots _docs/screenshots]

The site is served on 127.0.0.1 and each page loaded in Debian's Chromium (`apt-get install -y chromium`), driven over
the DevTools protocol. A page fails on any console error or uncaught exception, any request that fails (a missing
script, style or font), any image that does not load, and any formula that MathJax cannot typeset; the search page
must find the Fréchet distance, and list the course pages before the check notebooks; the check notebooks are folded
under one entry of the sidebar. Screenshots of the index, the curation notebook, the NT-Xent formula, an API page and
the search results are saved for a person to look at.

At the window's width (1280 x 900, a laptop's) every code cell of every page is measured: the share that reads without
scrolling sideways is printed, with how many of those show every line whole and how many wrap a long line under its
indentation; below `MIN_CODE_FIT` (90%) the check fails.
"""
import argparse, base64, functools, http.server, json, shutil, socketserver, subprocess, sys, tempfile, threading, time
import urllib.parse, urllib.request
from pathlib import Path
import websocket  # websocket-client

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, MIN_CODE_FIT = 1280, 900, 0.90
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars',
         '--remote-debugging-port=0', '--remote-allow-origins=*']

# Make every image load now (lazy ones too), then wait for images and for MathJax; report what failed.
INSPECT = r'''(async () => {
  for (const img of document.images) img.loading = 'eager';
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000); })));
  let math = document.querySelectorAll('.math').length, typeset = 0, errors = [];
  if (math) {
    for (let t = 0; t < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); t++)
      await new Promise(r => setTimeout(r, 50));
    if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
    typeset = document.querySelectorAll('mjx-container').length;
    errors = [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent);
    // an undefined macro is typeset as its name in red rather than as an error
    errors.push(...[...document.querySelectorAll('mjx-container [style*="color: red"]')].map(e => 'undefined: ' +
      [...e.querySelectorAll('mjx-c')].map(c => getComputedStyle(c, '::before').content.replace(/"/g, '')).join('')));
  }
  return {broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
          images: document.images.length, math, typeset, errors};
})()'''


# Each code cell's input: does any box of it scroll sideways (or cut its text off), and does a line wrap?
CODE_FIT = r'''(() => {
  let cells = 0, fit = 0, wrapped = 0;
  for (const pre of document.querySelectorAll('div.cell_input pre')) {
    cells += 1;
    let scrolls = false;
    for (let e = pre; e && !e.classList.contains('cell_input'); e = e.parentElement)
      if (e.scrollWidth > e.clientWidth + 1) scrolls = true;
    if (scrolls) continue;
    fit += 1;
    const style = getComputedStyle(pre);
    const line = parseFloat(style.lineHeight) || 1.6 * parseFloat(style.fontSize);
    if ([...pre.querySelectorAll('span.bc-line')].some(l => l.getBoundingClientRect().height > 1.5 * line)) wrapped += 1;
  }
  return {cells, fit, wrapped};
})()'''

# The sidebar's links to check notebooks that a reader sees without unfolding anything
VISIBLE_CHECKS = r'''[...document.querySelectorAll('.bd-sidebar-primary a[href*="checks/"]')]
  .filter(a => a.checkVisibility() && !a.closest('details:not([open]) > ul')).map(a => a.getAttribute('href'))'''

# The pages a search lists, in order
SEARCH_HITS = "[...document.querySelectorAll('#search-results li a')].map(a => a.getAttribute('href'))"


def code_fit_line(fit):
    "The figure printed: the share of code cells that read without scrolling sideways at the window's width."
    share = fit['fit'] / max(fit['cells'], 1)
    return (f"code cells at a {WIDTH}-pixel window: {share:.1%} ({fit['fit']:,} of {fit['cells']:,} on {fit['pages']} "
            f"pages) read without scrolling sideways: {fit['fit'] - fit['wrapped']:,} with every line whole, "
            f"{fit['wrapped']:,} with a long line wrapped under its indentation")


def search_order(hrefs):
    "A problem with the order of search results (course pages first, check notebooks after them), or None."
    kinds = ['checks' if h.split('?')[0].split('#')[0].startswith('checks/') else 'course' for h in hrefs]
    if 'course' not in kinds: return f"no course page found: {hrefs[:6]}"
    if 'checks' in kinds and 'course' in kinds[kinds.index('checks'):]:
        return f"a check notebook ranks above a course page: {hrefs[:6]}"
    return None


class Browser:
    "One headless Chromium and one tab, spoken to over the DevTools protocol."
    def __init__(self, exe):
        self.profile = tempfile.mkdtemp(prefix='bc-chromium-')
        self.proc = subprocess.Popen([exe, *FLAGS, f'--user-data-dir={self.profile}', 'about:blank'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / 'DevToolsActivePort'
        for _ in range(300):
            if port_file.exists() and len(port_file.read_text().split()) == 2: break
            time.sleep(0.1)
        else: raise RuntimeError('chromium did not start (no DevToolsActivePort)')
        port = port_file.read_text().split()[0]
        tabs = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list'))
        tab = next(t for t in tabs if t['type'] == 'page')
        self.ws = websocket.create_connection(tab['webSocketDebuggerUrl'], timeout=60, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.call(f'{domain}.enable')
        self.call('Emulation.setDeviceMetricsOverride', width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({'id': self.next_id, 'method': method, 'params': params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == self.next_id:
                if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get('result', {})
            self.events.append(msg)

    def wait_for(self, method, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            for i, e in enumerate(self.events):
                if e.get('method') == method: return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def evaluate(self, expression):
        return self.call('Runtime.evaluate', expression=expression, returnByValue=True)['result']['value']

    def search(self, base, query):
        "The result links of a search, in order (waits for the search to finish)."
        self.open(base + 'search.html?q=' + urllib.parse.quote_plus(query))
        hits, last = [], None
        for _ in range(100):
            hits = self.evaluate(SEARCH_HITS)
            if hits and hits == last: break
            last = hits
            time.sleep(0.1)
        return hits

    def open(self, url):
        "Load `url`; the errors it logged and what INSPECT found."
        self.events.clear()
        self.call('Page.navigate', url=url)
        self.wait_for('Page.loadEventFired')
        found = self.call('Runtime.evaluate', expression=INSPECT, awaitPromise=True, returnByValue=True)
        found = found['result']['value']
        time.sleep(0.2)
        self.call('Runtime.evaluate', expression='0')  # collect the events that came in meanwhile
        errors = []
        for e in self.events:
            m, p = e.get('method'), e.get('params', {})
            if m == 'Runtime.consoleAPICalled' and p['type'] in ('error', 'assert'):
                errors.append('console: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p['args']))
            elif m == 'Runtime.exceptionThrown':
                d = p['exceptionDetails']
                errors.append(f"exception: {d.get('exception', {}).get('description', d.get('text'))}")
            elif m == 'Log.entryAdded' and p['entry']['level'] == 'error':
                errors.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')}")
            elif m == 'Network.loadingFailed' and not p.get('canceled'):
                errors.append(f"request failed: {p.get('errorText')}")
            elif m == 'Network.responseReceived' and p['response']['status'] >= 400:
                errors.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        return errors, found

    def screenshot(self, path, scroll_to=None):
        if scroll_to:
            self.call('Runtime.evaluate', expression=f'document.querySelector({json.dumps(scroll_to)})'
                      '.scrollIntoView({block: "center"})', awaitPromise=False)
            time.sleep(0.3)
        data = self.call('Page.captureScreenshot', format='png')['data']
        Path(path).write_bytes(base64.b64decode(data))

    def close(self):
        try: self.ws.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            shutil.rmtree(self.profile, ignore_errors=True)


def serve(folder):
    "Serve `folder` on 127.0.0.1 in a thread; returns the base URL and the server."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(folder))
    server = socketserver.ThreadingTCPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f'http://127.0.0.1:{server.server_address[1]}/', server


def curation_page(site):
    "The curation notebook's page: `05_curation`, or the schemes notebook once the curation notebook is split."
    pages = sorted(p.name for p in site.glob('0[5-9]*.html'))
    found = (p for key in ('curation', 'schemes', 'criteria') for p in pages if key in p)
    return next(found, pages[0] if pages else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--site', default=str(ROOT / '_docs' / 'html'))
    ap.add_argument('--shots', default=str(ROOT / '_docs' / 'screenshots'))
    ap.add_argument('--chromium', default=shutil.which('chromium') or '/usr/bin/chromium')
    args = ap.parse_args()
    site, shots = Path(args.site), Path(args.shots)
    if not (site / 'index.html').exists(): sys.exit(f"no site in {site}: run `make docs` first")
    if not Path(args.chromium).exists():
        sys.exit("Chromium not found: install Debian's package "
                 "(as root: apt-get update && apt-get install -y chromium)")
    shots.mkdir(parents=True, exist_ok=True)
    base, server = serve(site)
    browser = Browser(args.chromium)
    problems, n, fit = [], 0, {'cells': 0, 'fit': 0, 'wrapped': 0, 'pages': 0}
    try:
        pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html')
                       if p.relative_to(site).parts[0] not in ('_static', '_sources'))
        for page in pages:
            errors, found = browser.open(base + page)
            n += 1
            problems += [f"{page}: {e}" for e in errors]
            problems += [f"{page}: image did not load: {src}" for src in found['broken']]
            if found['math'] and found['typeset'] < found['math']:
                problems.append(f"{page}: MathJax typeset {found['typeset']} of {found['math']} formulas")
            problems += [f"{page}: TeX error: {e}" for e in found['errors']]
            if page == 'index.html': browser.screenshot(shots / 'index.png')
            if page == curation_page(site): browser.screenshot(shots / 'curation.png')
            if page == '02_simclr.html': browser.screenshot(shots / 'nt_xent.png', scroll_to='div.math')
            if page == 'api/simclr.html': browser.screenshot(shots / 'api_simclr.png')
            cells = browser.evaluate(CODE_FIT)
            for k in ('cells', 'fit', 'wrapped'): fit[k] += cells[k]
            fit['pages'] += bool(cells['cells'])
            if page == 'index.html':
                shown = browser.evaluate(VISIBLE_CHECKS)
                if shown != ['checks/index.html']:
                    problems.append(f"index.html: the sidebar shows {shown}, not one entry with the check notebooks folded in")
        hits = len(browser.search(base, 'Fréchet distance'))
        if not hits: problems.append("search.html: searching 'Fréchet distance' found nothing")
        order = browser.search(base, 'curation schemes')
        if problem := search_order(order): problems.append(f"search.html: searching 'curation schemes': {problem}")
        browser.screenshot(shots / 'search.png')
    finally:
        browser.close()
        server.shutdown()
    print(code_fit_line(fit))
    if fit['fit'] < MIN_CODE_FIT * fit['cells']:
        problems.append(f"fewer than {MIN_CODE_FIT:.0%} of the code cells read without scrolling sideways")
    if problems:
        print(f"{len(problems)} problem(s) in {n} pages:\n  " + '\n  '.join(problems))
        sys.exit(1)
    print(f"{n} pages opened in Chromium: no console errors, every image loaded, every formula typeset; "
          f"search finds {hits} pages for 'Fréchet distance' and lists the course before the check notebooks; the "
          f"check notebooks are one entry of the sidebar. Screenshots in {shots}")


if __name__ == '__main__': main()
