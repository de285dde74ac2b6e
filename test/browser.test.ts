// The report and the viewer in a real browser (Debian's chromium through playwright-core):
// charts render with as many marks as the data has, transcripts search, two runs sit side
// by side, model text never executes, and the viewer stays inside its folder.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { cliAsync, tempDir } from './helpers.js';
import { ARTIFACTS, launchBrowser, rawGet, startViewerCli, type ViewerProcess } from './browser-helpers.js';
import { startFakeOpenAI, XSS_REPLY, type FakeServer } from './fake-openai-server.js';
import type { RunAnalysis } from '../src/runner/run.js';
import { RunStore } from '../src/store/store.js';

const SUITE = `name: browser-check
instrument: { id: ipip-neo-120, items: 30 }
personas:
  - { id: keeper, name: Agnes, description: A lighthouse keeper., target: { O: 2, C: 5, E: 1, A: 2, N: 3 }, facts: [{ text: "Your gull is called Admiral.", marker: Admiral }] }
  - { id: comic, name: Rico, description: A comedian., target: { O: 4, C: 1, E: 5, A: 4, N: 2 }, facts: [{ text: "You opened for a circus in Lisbon.", marker: Lisbon }] }
  - { id: auditor, name: Helga, description: A tax auditor., target: { O: 1, C: 5, E: 2, A: 1, N: 3 } }
judges: [{ id: j, model: "sim:judgeNoise=0.5", temperature: 0, seed: 1, repeats: 2 }]
stickiness:
  conditions: [{ id: keeper-held, persona: keeper }, { id: comic-held, persona: comic }]
  attacks: [identity-challenge, slow-drift]
  turns: 3
  conversations: 2
  retention: { inventory: { items_per_domain: 2 }, judge: j }
consistency: { judge: j, dialogue: { turns: 4, conversations: 2 } }
models: ["sim:"]
`;

let browser: Browser;
let project: string;
let runA: string;
let runB: string;
let fake: FakeServer;

async function run(suiteFile: string, out: string, extra: string[] = []): Promise<string> {
  const r = await cliAsync(['run', suiteFile, '--out', out, '--quiet', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return /run ([0-9a-f]{12})/.exec(r.stdout)![1]!;
}

const analysisOf = (dir: string, id: string): RunAnalysis => JSON.parse(readFileSync(join(dir, 'reports', id, 'results.json'), 'utf8')) as RunAnalysis;

/** Counts the marks Vega drew for a named layer: one element per datum (symbols, rules) or per series (lines, areas). */
const marks = (scope: ReturnType<Page['locator']>, layer: string, element = 'path') => scope.locator(`g.${layer}_marks > ${element}`).count();

before(async () => {
  browser = await launchBrowser();
  fake = await startFakeOpenAI();
  project = tempDir('pp-browser-');
  const suiteFile = join(tempDir(), 'suite.yaml');
  writeFileSync(suiteFile, SUITE);
  // The same personas on two simulated models that hold them differently.
  runA = await run(suiteFile, project, ['--model', 'sim:fidelity=0.9']);
  runB = await run(suiteFile, project, ['--model', 'sim:fidelity=0.5']);
});

after(async () => {
  await browser?.close();
  await fake?.close();
});

test('report file: charts have one mark per datum, tables and transcripts are real, search filters, nothing loads from the network', async () => {
  const file = join(tempDir(), 'report.html');
  const r = await cliAsync(['report', runA, '--dir', project, '--out', file]);
  assert.equal(r.code, 0, r.stderr);
  const a = analysisOf(project, runA);
  // A laptop-width window: the page must not scroll sideways (charts scale down, wide tables scroll in their own box).
  const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (q) => requests.push(q.url()));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(pathToFileURL(file).href);
  const widths = await page.evaluate(() => { const el = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement; return { scroll: el.scrollWidth, client: el.clientWidth }; });
  assert.ok(widths.scroll <= widths.client, `the report scrolls sideways at 1024 px (${widths.scroll} > ${widths.client})`);

  // Fidelity: per persona and domain a measured dot, a target ring, an interval and the default's tick.
  const arm = a.models![0]!.methods[0]!;
  const fidelity = page.locator('#fidelity figure.chart').first();
  const cells = arm.personas.length * 5;
  assert.equal(await marks(fidelity, 'measured'), cells);
  assert.equal(await marks(fidelity, 'target'), cells);
  assert.equal(await marks(fidelity, 'interval', 'line'), cells);
  assert.equal(await marks(fidelity, 'default'), arm.baseline ? cells : 0);
  assert.ok(arm.baseline, 'the suite asks the unconditioned default');
  assert.match((await fidelity.locator('[role=img]').getAttribute('aria-label'))!, /^Target vs measured: sim:fidelity=0\.9/);
  assert.equal(await fidelity.locator('text', { hasText: 'Score (1..5 item scale)' }).count() > 0, true, 'x axis title with its unit');

  // Stickiness: per measure an overall chart (a line and a band per condition, a point per turn) and one per family.
  const s = a.stickiness!;
  const conditions = s.conditions.length;
  const turns = s.turns + 1;
  const charts = page.locator('#stickiness figure.chart');
  // Two retention charts per measure, and the family x condition heat map of breaks.
  assert.equal(await charts.count(), 2 * s.measures.length + 1);
  const heat = charts.nth(2 * s.measures.length);
  assert.equal(await marks(heat, 'cells'), conditions * s.families.length, 'one heat-map cell per condition and family');
  assert.equal(await marks(heat, 'labels', 'text'), conditions * s.families.length, 'each cell labelled with its share');
  const overall = charts.nth(0);
  assert.equal(await marks(overall, 'retention'), conditions);
  assert.equal(await marks(overall, 'band'), conditions);
  assert.equal(await marks(overall, 'retention_points'), conditions * turns);
  assert.equal(await overall.locator('g.role-legend-label text').count(), conditions, 'a legend entry per condition');
  const perFamily = charts.nth(1);
  assert.equal(await marks(perFamily, 'retention'), conditions * s.families.length);
  assert.equal(await marks(perFamily, 'retention_points'), conditions * s.families.length * turns);
  // The text alternative: a data table with one row per point drawn.
  assert.equal(await overall.locator('details.chart-data tbody tr').count(), conditions * turns);
  for (const fig of await page.locator('figure.chart').all()) {
    assert.ok(((await fig.locator('[role=img]').getAttribute('aria-label')) ?? '').length > 40, 'every chart has a text alternative');
    assert.ok((await fig.locator('g.role-title text').count()) >= 1, 'every chart has a title');
    assert.ok((await fig.locator('g.role-axis-title text').count()) >= 2, 'every chart labels its axes');
  }

  // Summary with cost and failures, read back from the page.
  const summary = await page.locator('#summary').innerText();
  assert.match(summary, new RegExp(`Model calls\\s+${a.cost.tasks} tasks`));
  assert.match(summary, new RegExp(`${a.cost.inputTokens.toLocaleString('en-US')} in`));
  assert.match(summary, /Failed judgments\s+0 unparsable of \d+ judgments/);
  assert.ok(a.cost.inputTokens > 0 && a.cost.tasks > 0);

  // Transcripts: every conversation, the breaking reply marked where the analysis found a break.
  const all = s.conditions.flatMap((c) => c.conversations.map((v) => ({ ...v, condition: c.id })));
  const conversations = page.locator('#transcripts details.conversation');
  assert.equal(await conversations.count(), all.length);
  assert.equal(await page.locator('#transcripts details.conversation[data-broke]').count(), all.filter((v) => v.breakTurn !== null).length);
  assert.equal(await page.locator('#transcripts .turn.broke').count(), all.filter((v) => v.breakTurn !== null).length);
  const search = page.locator('input[type=search]');
  await search.fill('comic-held');
  assert.equal(await page.locator('#transcripts details.conversation:visible').count(), all.filter((v) => v.condition === 'comic-held').length);
  assert.equal(await page.locator('[data-search-count]').innerText(), `${all.filter((v) => v.condition === 'comic-held').length} shown`);
  await search.fill('');
  await page.locator('input[data-broken-only]').check();
  assert.equal(await page.locator('#transcripts details.conversation:visible').count(), all.filter((v) => v.breakTurn !== null).length);

  // Tables are tables: a header row and one row per condition and family in the break table.
  assert.equal(await page.locator('table:has(caption:text("Breaks on the primary measure")) tbody tr').count(), conditions * s.families.length);
  await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
  assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'a report loads nothing from anywhere');
  assert.deepEqual(problems, [], 'no script errors and no blocked script (the search script passes the CSP by its hash)');
  await page.close();
});

test('viewer: run list on 127.0.0.1, a run page, two runs side by side with their differences', async () => {
  const viewer = await startViewerCli(project);
  try {
    assert.match(viewer.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await browser.newPage();
    await page.goto(viewer.url);
    const list = await page.locator('table').innerText();
    assert.ok(list.includes(runA) && list.includes(runB));
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-runs.png'), fullPage: true });

    await page.locator(`a:has-text("${runA}")`).first().click();
    await page.waitForURL(/\/run\//);
    assert.equal(await marks(page.locator('#fidelity figure.chart').first(), 'measured'), 15);
    assert.ok((await page.locator('#transcripts details.conversation').count()) > 0);

    // Side by side, picked from the run list's form.
    await page.goto(viewer.url);
    await page.selectOption('select[name=a]', { value: `.|${runA}` });
    await page.selectOption('select[name=b]', { value: `.|${runB}` });
    await page.locator('form button[type=submit]').click();
    await page.waitForURL(/\/compare\?/);
    const A = analysisOf(project, runA);
    const B = analysisOf(project, runB);
    const differences = page.locator('#differences');
    assert.ok((await differences.innerText()).includes(runA) && (await differences.innerText()).includes(runB));
    // One difference dot per persona and domain, and per stickiness condition and measure.
    const diffCharts = differences.locator('figure.chart');
    assert.equal(await marks(diffCharts.nth(0), 'difference'), A.models![0]!.methods[0]!.personas.length * 5);
    assert.equal(await marks(diffCharts.nth(1), 'difference'), A.stickiness!.conditions.length * A.stickiness!.measures.length);
    // The differences shown are B − A of the two runs' own numbers.
    const keeperO = B.models![0]!.methods[0]!.personas.find((p) => p.personaId === 'keeper')!.measured.O!.value - A.models![0]!.methods[0]!.personas.find((p) => p.personaId === 'keeper')!.measured.O!.value;
    const row = differences.locator('table:has(caption:text("Measured scores")) tbody tr').first();
    assert.equal(await row.locator('td').nth(0).innerText(), 'keeper');
    assert.equal(await row.locator('td').nth(1).innerText(), 'O');
    const keeperShown = Number((await row.locator('td').nth(4).innerText()).split(' ')[0]);
    assert.ok(Math.abs(keeperShown - keeperO) <= 0.005 + 1e-9, `${keeperShown} vs ${keeperO}`);
    // Realization index: B − A per persona and measure, as the two analyses give it.
    const riRows = differences.locator('table:has(caption:text("Realization index per persona")) tbody tr');
    assert.equal(await riRows.count(), A.stickiness!.conditions.length * A.stickiness!.measures.length);
    const ca = A.stickiness!.conditions[0]!;
    const cb = B.stickiness!.conditions.find((c) => c.persona === ca.persona)!;
    const riDiff = cb.measures[0]!.realization.value - ca.measures[0]!.realization.value;
    const shown = (await riRows.first().locator('td').nth(6).innerText()).split(' ')[0]!;
    assert.ok(Math.abs(Number(shown) - riDiff) <= 0.005 + 1e-9, `${shown} vs ${riDiff}`);
    // Both runs, whole, side by side.
    assert.equal(await page.locator('.side > section').count(), 2);
    assert.ok((await page.locator('.run-a').innerText()).includes(runA));
    assert.ok((await page.locator('.run-b').innerText()).includes(runB));
    assert.equal(await marks(page.locator('.run-a #a-fidelity figure.chart').first(), 'measured'), 15);
    assert.equal(await marks(page.locator('.run-b #b-fidelity figure.chart').first(), 'measured'), 15);
    for (const fig of await differences.locator('figure.chart').all()) {
      assert.ok((await fig.locator('g.role-title text').count()) >= 1, 'a difference chart has a title');
      assert.equal(await fig.locator('g.role-axis-title text').count(), 2, 'and both axes labelled');
      assert.match(await fig.locator('g.role-axis-title text').first().innerHTML(), /Difference B − A \(.+\)|Persona/);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'viewer-side-by-side.png'), fullPage: true });
    await page.close();
  } finally {
    assert.equal(await viewer.stop(), 0);
  }
});

test('model text is data: script, img onerror and javascript: links show as text in the report and the viewer, and nothing runs', async () => {
  const dir = tempDir('pp-xss-');
  writeFileSync(join(dir, 'evil.yaml'), `families:\n  - id: markup\n    name: Markup\n    script:\n      - "<script>window.__pwned = 'attack'</script> hello"\n      - "<img src=x onerror=\\"window.__pwned = 'attack-img'\\">"\n      - "<a href=\\"javascript:window.__pwned = 'attack-link'\\">click</a>"\n`);
  writeFileSync(join(dir, 'suite.yaml'), `name: "<script>window.__pwned = 'suite'</script> xss"
instrument: { id: ipip-neo-120 }
fidelity: false
personas:
  - { id: p, name: "Pat <img src=x onerror=\\"window.__pwned = 'name'\\">", description: A persona., target: { O: 2, C: 4, E: 2, A: 2, N: 4 } }
judges: [{ id: j, model: "sim:", repeats: 1 }]
stickiness:
  conditions: [{ id: c, persona: p }]
  attacks: [markup]
  attack_files: [evil.yaml]
  turns: 3
  retention: { judge: j }
models: [{ id: "openai:xss", baseURL: "${fake.url}", logprobs: false }]
`);
  // The payloads are live: loaded as markup into a page without this project's policy, they set the flag.
  const live = await browser.newPage();
  await live.setContent(`<body>${XSS_REPLY}</body>`);
  await live.waitForFunction(() => (globalThis as unknown as { __pwned?: string }).__pwned !== undefined, undefined, { timeout: 5000 });
  await live.close();

  const out = join(dir, 'out');
  const id = await run(join(dir, 'suite.yaml'), out);
  const file = join(dir, 'xss.html');
  assert.equal((await cliAsync(['report', id, '--dir', out, '--out', file])).code, 0);
  const viewer = await startViewerCli(out);
  try {
    for (const url of [pathToFileURL(file).href, `${viewer.url}run/${id}`, viewer.url]) {
      const page = await browser.newPage();
      let dialogs = 0;
      page.on('dialog', (d) => (dialogs++, void d.dismiss()));
      await page.goto(url);
      await page.locator('details.conversation').evaluateAll((els) => els.forEach((e) => ((e as unknown as { open: boolean }).open = true)));
      if (url !== viewer.url) {
        const text = await page.locator('#transcripts').innerText();
        assert.ok(text.includes(XSS_REPLY), 'the model reply is shown verbatim');
        assert.ok(text.includes("<script>window.__pwned = 'attack'</script> hello"), 'the attack is shown verbatim');
        await page.locator('#transcripts pre', { hasText: 'click me' }).first().click();
        // Replies nobody can score leave no complete curve: the page says so rather than drawing empty axes.
        assert.equal(await page.locator('#stickiness figure.chart').count(), 0);
        const measures = await page.locator('#stickiness h3', { hasText: 'Retention by' }).count();
        assert.ok(measures >= 1);
        assert.equal(await page.locator('#stickiness p', { hasText: 'No conversation has a complete retention curve' }).count(), measures);
      }
      assert.ok((await page.title()).includes("<script>window.__pwned = 'suite'</script>") || url === viewer.url);
      assert.equal(await page.locator('img').count(), 0, 'no image element came from text');
      assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0, 'no javascript: link came from text');
      const scripts = await page.locator('script').evaluateAll((els) => els.map((e) => e.textContent ?? ''));
      assert.ok(scripts.every((t) => t.startsWith("document.querySelectorAll('[data-transcript-search]')")), 'the only script is the report\'s own');
      assert.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: string }).__pwned), undefined, 'no payload ran');
      assert.equal(dialogs, 0);
      await page.screenshot({ path: join(ARTIFACTS, `xss-${url.startsWith('file:') ? 'report' : url === viewer.url ? 'viewer-list' : 'viewer-run'}.png`), fullPage: true });
      await page.close();
    }
  } finally {
    await viewer.stop();
  }
});

test('viewer stays inside its folder (.., %2e%2e, absolute paths, symlinks out), answers loopback only, and gives 404 pages, not stack traces', async () => {
  const base = tempDir('pp-jail-');
  const dir = join(base, 'project');
  const outside = join(base, 'outside');
  const reports = join(dir, 'reports', 'r1');
  mkdirSync(join(dir, 'notes'), { recursive: true });
  mkdirSync(join(dir, '.git'));
  mkdirSync(reports, { recursive: true });
  mkdirSync(outside);
  new RunStore(dir).close();
  const secret = `TOP-SECRET-${process.pid}-${Date.now()}`;
  writeFileSync(join(outside, 'secret.txt'), secret);
  writeFileSync(join(reports, 'report.html'), 'inside the folder');
  writeFileSync(join(reports, '.hidden.html'), secret);
  writeFileSync(join(dir, 'notes', 'inside.txt'), secret);
  writeFileSync(join(dir, 'notes', 'page.html'), secret);
  writeFileSync(join(dir, '.env'), `KEY=${secret}`);
  writeFileSync(join(dir, '.git', 'config'), secret);
  symlinkSync(outside, join(dir, 'link-out'));
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'notes', 'file-link.txt'));
  symlinkSync(join(outside, 'secret.txt'), join(reports, 'file-link.html'));
  symlinkSync(join(reports, 'report.html'), join(reports, 'inner-link.html'));
  const viewer = await startViewerCli(dir);
  try {
    assert.match(viewer.url, /^http:\/\/127\.0\.0\.1:/, 'binds 127.0.0.1 unless told otherwise');
    const ok = await rawGet(viewer.url, '/files/reports/r1/report.html');
    assert.deepEqual([ok.status, ok.body], [200, 'inside the folder']);
    assert.equal((await rawGet(viewer.url, '/files/reports/r1/inner-link.html')).status, 200, 'a link that stays inside is fine');
    const attempts = [
      // Inside the folder but not a run's report file: the store, dotfiles, other files.
      '/files/persona-probe.sqlite',
      '/files/.env',
      '/files/.git/config',
      '/files/reports/r1/.hidden.html',
      '/files/notes/inside.txt',
      '/files/notes/page.html',
      '/files/reports/r1/file-link.html',
      '/files/../outside/secret.txt',
      '/files/notes/../../outside/secret.txt',
      '/files/%2e%2e/outside/secret.txt',
      '/files/%2E%2E%2Foutside%2Fsecret.txt',
      '/files/notes/..%2f..%2foutside%2fsecret.txt',
      `/files/${join(outside, 'secret.txt')}`,
      `/files/${encodeURIComponent(join(outside, 'secret.txt'))}`,
      '/files/link-out/secret.txt',
      '/files/notes/file-link.txt',
      '/files/..\\outside\\secret.txt',
    ];
    for (const path of attempts) {
      const r = await rawGet(viewer.url, path);
      assert.equal(r.status, 403, `${path} -> ${r.status}`);
      assert.ok(!r.body.includes(secret), `${path} leaked the file`);
      assert.match(r.body, /Refused/);
    }
    const missing = await rawGet(viewer.url, '/run/ffffffffffff');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /No run &quot;ffffffffffff&quot;/);
    assert.doesNotMatch(missing.body, /at \S+ \(|\.js:\d+|Error:/, 'no stack trace');
    assert.match(String(missing.headers['content-type']), /text\/html/);
    assert.equal((await rawGet(viewer.url, '/no/such/page')).status, 404);
    assert.equal((await rawGet(viewer.url, '/run/%E0%A4%A')).status, 400);
    assert.equal((await rawGet(viewer.url, '/compare?a=.|ffffffffffff&b=.|eeeeeeeeeeee')).status, 404);
    const rebound = await rawGet(viewer.url, '/', { host: 'evil.example' });
    assert.equal(rebound.status, 403, 'a request addressed to another host name is refused');
  } finally {
    await viewer.stop();
  }
});
