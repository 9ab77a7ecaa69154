"""Open every page of the built site (`make docs`) in headless Chromium, as a reader would, and fail on what is wrong.

    python tools/check_docs.py [--site _docs/html] [--shots _docs/screenshots]

The site is served on 127.0.0.1 and each page loaded in Debian's Chromium (`apt-get install -y chromium`), driven over
the DevTools protocol. A page fails on any console error or uncaught exception, any request that fails (a missing
script, style or font), any image that does not load, and any formula that MathJax cannot typeset; the search page
must find the Fréchet distance. Screenshots of the index, the curation notebook, the NT-Xent formula, an API page
and the search results are saved for a person to look at.
"""
import argparse, base64, functools, http.server, json, shutil, socketserver, subprocess, sys, tempfile, threading, time
from pathlib import Path
import websocket  # websocket-client

ROOT = Path(__file__).resolve().parents[1]
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
        import urllib.request
        tabs = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list'))
        tab = next(t for t in tabs if t['type'] == 'page')
        self.ws = websocket.create_connection(tab['webSocketDebuggerUrl'], timeout=60, suppress_origin=True)
        self.next_id, self.events = 0, []
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.call(f'{domain}.enable')
        self.call('Emulation.setDeviceMetricsOverride', width=1280, height=900, deviceScaleFactor=1, mobile=False)

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
    problems, n = [], 0
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
        errors, _ = browser.open(base + 'search.html?q=Fr%C3%A9chet+distance')
        problems += [f"search.html: {e}" for e in errors]
        hits = 0
        for _ in range(100):
            hits = browser.call('Runtime.evaluate', expression="document.querySelectorAll('#search-results li').length",
                                returnByValue=True)['result']['value']
            if hits: break
            time.sleep(0.1)
        if not hits: problems.append("search.html: searching 'Fréchet distance' found nothing")
        browser.screenshot(shots / 'search.png')
    finally:
        browser.close()
        server.shutdown()
    if problems:
        print(f"{len(problems)} problem(s) in {n} pages:\n  " + '\n  '.join(problems))
        sys.exit(1)
    print(f"{n} pages opened in Chromium: no console errors, every image loaded, every formula typeset; "
          f"search finds {hits} pages for 'Fréchet distance'. Screenshots in {shots}")


if __name__ == '__main__': main()
