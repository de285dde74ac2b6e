// Human norms on the registry's interface: each profile the fidelity probe measured, and
// each model's default, placed among real people (norms.ts). Runs after fidelity in the
// registry and reads its result.

import { DOMAINS } from '../instruments/types.js';
import { escapeHtml, f2, table } from '../present/html.js';
import { f2 as t2 } from '../present/text.js';
import { measuredProfiles } from './fidelity-probe.js';
import { analyzeNorms, loadNorms, type NormsAnalysis, type NormsData } from './norms.js';
import type { Probe } from './probe.js';

declare module './probe.js' {
  interface ProbeResults {
    norms?: NormsAnalysis;
  }
}

const pct = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '—');

function normsHtml(n: NormsAnalysis): string {
  return `<p>Each measured profile placed among ${n.people.toLocaleString('en-US')} real people of ${escapeHtml(n.dataset)}: the percentile of each domain score, and the mean distance to the ${n.nearest} nearest people (over the five domains, 1..5 units). Between real people that distance is typically ${f2(n.typical)}; a persona well above it has a profile few real people have. Compared: ${escapeHtml(n.note)}.</p>
${table(['Model', 'Method', 'Persona', ...DOMAINS.map((d) => `${d} percentile`), `Distance to the ${n.nearest} nearest`], n.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.method), escapeHtml(r.persona), ...DOMAINS.map((d) => pct(r.percentile[d])), f2(r.nearest)]))}`;
}

export const normsProbe: Probe<'norms', NormsData> = {
  key: 'norms',
  block: 'norms',
  title: 'Among real people',
  enabled: (suite) => Boolean(suite.norms),
  // The data file is read once, before any call: a bad one fails first.
  prepare: (suite, dirs) => loadNorms(suite, dirs.dataDir),
  analyze: ({ suite, prepared, earlier }) => (suite.norms && earlier.models ? analyzeNorms(suite, prepared(), measuredProfiles(earlier.models)) : undefined),
  sections: async (n) => [{ id: 'norms', title: 'Among real people', html: normsHtml(n) }],
  console: (n) => [
    `\nAmong ${n.people.toLocaleString('en-US')} real people (${n.dataset}; percentile per domain, distance to the ${n.nearest} nearest, typical ${t2(n.typical)}):`,
    ...n.rows.map((r) => `  ${r.persona} · ${r.model} · ${r.method}: ${DOMAINS.map((d) => `${d} ${pct(r.percentile[d])}`).join(', ')} · nearest ${t2(r.nearest)}`),
  ],
};
