// Charts are declarative Vega-Lite specs rendered to SVG in Node (no browser, no
// network), then inlined into the self-contained HTML.

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface TargetVsMeasuredRow {
  persona: string;
  domain: string;
  target: number;
  measured: number;
  lo: number;
  hi: number;
}

/** Target (ring) vs measured (dot, with 95% interval) per domain, one small panel per persona. */
export function targetVsMeasuredSpec(rows: TargetVsMeasuredRow[], title: string): TopLevelSpec {
  const y = { field: 'domain', type: 'nominal' as const, title: 'Big Five domain', sort: ['O', 'C', 'E', 'A', 'N'] };
  const scale = { domain: [1, 5] };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: 'Per persona and domain: the target level (open circle) and the measured score (filled dot) with its 95% bootstrap interval, on the 1..5 item scale.',
    data: { values: rows },
    facet: { field: 'persona', type: 'nominal', title: 'Persona', columns: 3 },
    spec: {
      width: 220,
      height: 120,
      layer: [
        { mark: { type: 'rule' }, encoding: { y, x: { field: 'lo', type: 'quantitative', scale, title: 'Score (1..5 item scale)' }, x2: { field: 'hi' } } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { y, x: { field: 'measured', type: 'quantitative', scale }, tooltip: [{ field: 'measured', format: '.2f' }, { field: 'target' }] } },
        { mark: { type: 'point', filled: false, size: 120, color: '#d62728' }, encoding: { y, x: { field: 'target', type: 'quantitative', scale } } },
      ],
    },
  } as TopLevelSpec;
}
