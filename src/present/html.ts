// Small HTML helpers shared by the report's sections, and the one document shell that
// every page (a saved report, a viewer page) is wrapped in.

import { createHash } from 'node:crypto';
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from './charts.js';
import { f2 } from './text.js';

/** Model text and user strings are data, never markup. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export { f2 };

export const ci = (e: { value: number; lo: number; hi: number }): string => `${f2(e.value)} <span class="ci">[${f2(e.lo)}, ${f2(e.hi)}]</span>`;

/** A real table (copies into a spreadsheet). Cells are HTML: escape text before passing it. */
export function table(head: string[], rows: string[][], caption?: string): string {
  // A wide table scrolls inside its own box, so the page never scrolls sideways.
  return `<div class="table-wrap"><table>${caption ? `<caption>${caption}</caption>` : ''}<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</tbody></table></div>`;
}

/** Numbers of any size: two decimals in the usual range, exponent notation beyond it. */
export const num = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 1e-2) ? x.toExponential(2) : x.toFixed(2));

const cell = (v: unknown): string => (typeof v === 'number' ? num(v) : escapeHtml(v ?? ''));

/**
 * A chart as a figure: the Vega-Lite spec rendered to SVG, its description as the text
 * alternative (aria-label), a caption, and the data it draws as a real table under it.
 */
export async function chartFigure(spec: TopLevelSpec, caption: string, id?: string): Promise<string> {
  const s = spec as { title?: string; description?: string; data?: { values?: Record<string, unknown>[] }; layer?: { data?: { values?: Record<string, unknown>[] } }[] };
  const values = s.data?.values ?? s.layer?.[0]?.data?.values ?? [];
  const columns = [...new Set(values.flatMap((v) => Object.keys(v)))];
  const data = values.length ? `<details class="chart-data"><summary>Data behind “${escapeHtml(s.title ?? 'chart')}” (${values.length} rows)</summary>${table(columns.map(escapeHtml), values.map((v) => columns.map((c) => cell(v[c]))))}</details>` : '';
  // role=img hides the SVG's internals from assistive technology and reads the description instead.
  return `<figure class="chart"${id ? ` id="${escapeHtml(id)}"` : ''}><div role="img" aria-label="${escapeHtml(`${s.title ?? 'Chart'}. ${s.description ?? ''}`)}">${await renderSvg(spec)}</div><figcaption>${caption}</figcaption>${data}</figure>`;
}

export interface Page {
  title: string;
  body: string;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#111}main{margin:1.5rem 2rem;max-width:1500px}
header.bar{background:#22313f;color:#fff;padding:.5rem 2rem}header.bar a{color:#fff;margin-right:1rem}
nav.toc{margin:.5rem 0 1rem}nav.toc a{margin-right:1rem}
table{border-collapse:collapse;margin:1rem 0}caption{text-align:left;font-weight:600;padding:.25rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right;vertical-align:top}th{background:#f4f4f4}td:first-child{text-align:left}td code{overflow-wrap:anywhere}
.ci{color:#666;font-size:.85em}.sim{background:#fff3cd;border:1px solid #e0b400;padding:.75rem;margin:1rem 0;overflow-wrap:anywhere}.tag{background:#e0b400;color:#000;font-size:.7em;padding:.1rem .4rem;border-radius:.2rem}
figure.chart{margin:1rem 0;max-width:100%}figure.chart svg{max-width:100%;height:auto}.table-wrap{max-width:100%;overflow-x:auto}figcaption{color:#444;max-width:60rem}details.chart-data summary{color:#555;cursor:pointer;font-size:.9em}
.conversation{border:1px solid #ddd;margin:.5rem 0;padding:.25rem .75rem}.conversation[hidden]{display:none}
.turn{margin:.3rem 0;padding:.3rem .5rem;border-left:3px solid #ccc}.turn.user{background:#f7f7f7}.turn.broke{border-left-color:#d62728;background:#fdecea}
.turn pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.2rem 0;font:inherit}.who{color:#666;font-size:.85em}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}.side>section{min-width:0;overflow-x:auto;border-top:3px solid #22313f}
.better{color:#1a7f37}.worse{color:#b42318}input[type=search]{font:inherit;padding:.25rem .5rem;width:24rem}`;

/**
 * The only script any page carries: the transcript filter. It reads text with
 * textContent and only toggles `hidden`, so model text is never parsed as markup;
 * the Content-Security-Policy admits exactly this script by its hash.
 */
const SEARCH_SCRIPT = `document.querySelectorAll('[data-transcript-search]').forEach(function(box){var root=document.getElementById(box.getAttribute('data-transcript-search'));var only=document.querySelector('[data-broken-only="'+box.getAttribute('data-transcript-search')+'"]');var count=document.querySelector('[data-search-count="'+box.getAttribute('data-transcript-search')+'"]');function run(){var q=box.value.trim().toLowerCase();var n=0;root.querySelectorAll('.conversation').forEach(function(c){var show=(!q||c.textContent.toLowerCase().indexOf(q)>=0)&&(!only||!only.checked||c.hasAttribute('data-broke'));c.hidden=!show;if(show){n++;if(q)c.open=true;}});if(count)count.textContent=n+' shown';}box.addEventListener('input',run);if(only)only.addEventListener('change',run);run();});`;
const SCRIPT_HASH = createHash('sha256').update(SEARCH_SCRIPT).digest('base64');

/** Pages load nothing from anywhere: inline styles, data: images, and the one hashed script. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-${SCRIPT_HASH}'; base-uri 'none'; form-action 'self'`;

/** The document shell: one self-contained file, no network, no CDN. */
export function htmlDocument(page: Page, header = ''): string {
  const search = page.body.includes('data-transcript-search') ? `<script>${SEARCH_SCRIPT}</script>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(page.title)}</title>
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<style>${STYLE}</style></head>
<body>${header}<main><h1>${escapeHtml(page.title)}</h1>${page.body}</main>${search}</body></html>`;
}

/** A difference B − A, marked when its interval excludes zero; `higherIsBetter` colours the direction. */
export function diffCell(e: { value: number; lo: number; hi: number }, higherIsBetter?: boolean): string {
  const clear = e.lo > 0 || e.hi < 0;
  const cls = clear && higherIsBetter !== undefined ? ((e.value > 0) === higherIsBetter ? 'better' : 'worse') : '';
  return `<span${cls ? ` class="${cls}"` : ''}>${ci(e)}${clear ? ' *' : ''}</span>`;
}
