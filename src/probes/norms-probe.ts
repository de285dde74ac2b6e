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
/** The scales compared (analyses stored before norms had scales compared the five domains). */
const scalesOf = (n: NormsAnalysis): readonly string[] => n.scales ?? DOMAINS;

function normsHtml(n: NormsAnalysis): string {
  const scales = scalesOf(n);
  return `<p>Each measured profile placed among ${n.people.toLocaleString('en-US')} real people of ${escapeHtml(n.dataset)}: the percentile of each ${scales === DOMAINS ? 'domain' : 'scale'} score, and the mean distance to the ${n.nearest} nearest people (over the ${scales.length} ${scales === DOMAINS ? 'domains' : 'scales'}, ${escapeHtml(n.units ?? '1..5')} units). Between real people that distance is typically ${f2(n.typical)}; a persona well above it has a profile few real people have. Compared: ${escapeHtml(n.note)}.</p>
${table(['Model', 'Method', 'Persona', ...scales.map((d) => `${escapeHtml(d)} percentile`), `Distance to the ${n.nearest} nearest`], n.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.method), escapeHtml(r.persona), ...scales.map((d) => pct(r.percentile[d] ?? Number.NaN)), f2(r.nearest)]))}`;
}

export const normsProbe: Probe<'norms', NormsData> = {
  key: 'norms',
  block: 'norms',
  title: 'Among real people',
  enabled: (suite) => Boolean(suite.norms),
  // The data file is read once, before any call: a bad one fails first.
  prepare: (suite, dirs) => loadNorms(suite, dirs.dataDir),
  analyze: ({ suite, prepared, earlier }) => {
    if (!suite.norms || !earlier.models) return undefined;
    const data = prepared();
    return analyzeNorms(suite, data, measuredProfiles(earlier.models, data.byScale));
  },
  sections: async (n) => [{ id: 'norms', title: 'Among real people', html: normsHtml(n) }],
  console: (n) => [
    `\nAmong ${n.people.toLocaleString('en-US')} real people (${n.dataset}; percentile per ${scalesOf(n) === DOMAINS ? 'domain' : 'scale'}, distance to the ${n.nearest} nearest, typical ${t2(n.typical)}):`,
    ...n.rows.map((r) => `  ${r.persona} · ${r.model} · ${r.method}: ${scalesOf(n).map((d) => `${d} ${pct(r.percentile[d] ?? Number.NaN)}`).join(', ')} · nearest ${t2(r.nearest)}`),
  ],
};
