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

/**
 * Rows an interval chart can draw: those with a finite estimate, their undefined bounds (a
 * single observation) collapsed onto the estimate rather than drawn as zero.
 */
function withFiniteBounds<R extends { lo: number; hi: number }>(rows: R[], key: keyof R & string): R[] {
  return rows
    .filter((r) => Number.isFinite(r[key]))
    .map((r) => ({ ...r, lo: Number.isFinite(r.lo) ? r.lo : (r[key] as number), hi: Number.isFinite(r.hi) ? r.hi : (r[key] as number) }));
}

export interface TargetVsMeasuredRow {
  persona: string;
  /** The scale (a Big Five domain letter on the IPIP inventories). */
  domain: string;
  /** Null on a scale no persona target applies to. */
  target: number | null;
  measured: number;
  lo: number;
  hi: number;
}

/** The instrument's shape as a chart draws it: its scales in order and its value range. */
export interface ScaleAxis {
  order: string[];
  range: { min: number; max: number };
  title: string;
}

const BIG_FIVE_AXIS: ScaleAxis = { order: ['O', 'C', 'E', 'A', 'N'], range: { min: 1, max: 5 }, title: 'Big Five domain' };

/** Target (ring) vs measured (dot, with 95% interval) per scale, one small panel per persona. */
export function targetVsMeasuredSpec(rows: TargetVsMeasuredRow[], title: string, defaults?: { domain: string; value: number }[], axis: ScaleAxis = BIG_FIVE_AXIS): TopLevelSpec {
  const y = { field: 'domain', type: 'nominal' as const, title: axis.title, sort: axis.order };
  const scale = { domain: [axis.range.min, axis.range.max] };
  const units = `${axis.range.min}..${axis.range.max}`;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: `Per persona and ${axis === BIG_FIVE_AXIS ? 'domain' : 'scale'}: the target level (open circle) and the measured score (filled dot) with its 95% bootstrap interval, on the ${units} item scale${defaults?.length ? "; a grey tick marks the unconditioned model's own score" : ''}.`,
    data: { values: defaults?.length ? rows.map((r) => ({ ...r, default: defaults.find((d) => d.domain === r.domain)?.value ?? null })) : rows },
    facet: { field: 'persona', type: 'nominal', title: 'Persona', columns: 3 },
    spec: {
      width: 220,
      height: 120,
      layer: [
        // Named layers: their marks carry the name as a class (interval_marks, measured_marks, ...).
        { name: 'interval', mark: { type: 'rule' }, encoding: { y, x: { field: 'lo', type: 'quantitative', scale, title: `Score (${units} item scale)` }, x2: { field: 'hi' } } },
        { name: 'measured', mark: { type: 'point', filled: true, size: 60 }, encoding: { y, x: { field: 'measured', type: 'quantitative', scale }, tooltip: [{ field: 'measured', format: '.2f' }, { field: 'target' }] } },
        { name: 'target', mark: { type: 'point', filled: false, size: 120, color: '#d62728' }, encoding: { y, x: { field: 'target', type: 'quantitative', scale } } },
        // The unconditioned default: where a persona that is merely performed slides back to.
        ...(defaults?.length ? [{ name: 'default', mark: { type: 'tick', color: '#7f7f7f', thickness: 2 }, encoding: { y, x: { field: 'default', type: 'quantitative', scale } } }] : []),
      ],
    },
  } as TopLevelSpec;
}

export interface RetentionRow {
  condition: string;
  family: string;
  turn: number;
  mean: number;
  lo: number;
  hi: number;
}

/** Retention over turns: a line per condition with its bootstrap band; optionally one panel per attack family. */
export function retentionSpec(rows: RetentionRow[], title: string, byFamily: boolean): TopLevelSpec {
  // Small multiples repeat their axis titles per panel, so they get short ones (the caption explains).
  const x = { field: 'turn', type: 'quantitative' as const, title: byFamily ? 'Turn' : 'Turn (0 = opening, then attack turns)', axis: { tickMinStep: 1 } };
  const scale = { domain: [0, 1] };
  const color = { field: 'condition', type: 'nominal' as const, title: 'Condition' };
  const layer = [
    { name: 'band', mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'lo', type: 'quantitative', scale, title: byFamily ? 'Retention (0..1)' : 'Retention (0..1, share of the persona kept)' }, y2: { field: 'hi' }, color } },
    { name: 'retention', mark: { type: 'line' }, encoding: { x, y: { field: 'mean', type: 'quantitative', scale }, color } },
    { name: 'retention_points', mark: { type: 'point', filled: true, size: 25 }, encoding: { x, y: { field: 'mean', type: 'quantitative', scale }, color, tooltip: [{ field: 'condition' }, { field: 'turn' }, { field: 'mean', format: '.2f' }, { field: 'lo', format: '.2f' }, { field: 'hi', format: '.2f' }] } },
  ];
  const description = 'Mean retention per turn for each condition, with a shaded bootstrap 95% band over conversations; 1 means the persona measured at turn 0 is fully kept, 0 means it has moved all the way to the unconditioned default.';
  const values = withFiniteBounds(rows, 'mean');
  if (byFamily) {
    return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, description, data: { values }, facet: { field: 'family', type: 'nominal', title: 'Attack family' }, columns: 4, spec: { width: 200, height: 140, layer } } as TopLevelSpec;
  }
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, description, data: { values }, width: 520, height: 260, layer } as TopLevelSpec;
}

/** A line per series over an integer x axis (turns, layers); rows with a non-finite value are left out. */
function seriesLineSpec(o: { rows: { series: string; x: number; value: number }[]; title: string; description: string; x: string; y: string; series: string }): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: o.title,
    description: o.description,
    data: { values: o.rows.filter((r) => Number.isFinite(r.value)) },
    width: 520,
    height: 240,
    name: 'series',
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.x, axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: o.y },
      color: { field: 'series', type: 'nominal', title: o.series },
    },
  } as TopLevelSpec;
}

/** A value per turn for each series (projection trajectories). */
export function projectionSpec(rows: { series: string; turn: number; value: number }[], title: string): TopLevelSpec {
  return seriesLineSpec({
    rows: rows.map((r) => ({ series: r.series, x: r.turn, value: r.value })),
    title,
    description: 'Projection of each assistant turn (mean over its tokens) onto the unit persona vector, per turn.',
    x: 'Assistant turn',
    y: 'Projection (residual-stream units)',
    series: 'Vector @ layer',
  });
}

/** Separation (Cohen's d of held-out projections) per layer: where a persona vector reads best. */
export function separationSpec(rows: { layer: number; method: string; d: number }[], title: string): TopLevelSpec {
  return seriesLineSpec({
    rows: rows.map((r) => ({ series: r.method, x: r.layer, value: r.d })),
    title,
    description: "Per layer, Cohen's d between held-out answers given under the positive and the negative instructions, projected on the layer's vector.",
    x: 'Layer (blocks.L.hook_resid_post)',
    y: "Separation (Cohen's d, held out)",
    series: 'Vector',
  });
}

/** Role map: each role's vector on PC1 x PC2, the default assistant marked, and the Assistant axis drawn from the roles' mean to the default. */
export function roleMapSpec(points: { id: string; pc1: number; pc2: number; kind: string }[], axis: { pc1: number; pc2: number }, title: string): TopLevelSpec {
  const x = { field: 'pc1', type: 'quantitative' as const, title: 'PC1 (residual-stream units, oriented toward the default assistant)' };
  const y = { field: 'pc2', type: 'quantitative' as const, title: 'PC2 (residual-stream units)' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: 'Role vectors projected on the top two principal components across roles; the default assistant is marked and the Assistant axis is drawn as an arrow from the mean of the roles to the default.',
    width: 520,
    height: 400,
    layer: [
      { name: 'roles', data: { values: points }, mark: { type: 'point', filled: true, size: 50 }, encoding: { x, y, color: { field: 'kind', type: 'nominal', title: 'Kind' }, tooltip: [{ field: 'id' }, { field: 'pc1', format: '.2f' }, { field: 'pc2', format: '.2f' }] } },
      // Each point names its role (the default assistant too), so the map reads without hovering.
      { name: 'role_labels', data: { values: points.map((p) => ({ ...p, label: p.kind === 'default assistant' ? 'default assistant' : p.id })) }, mark: { type: 'text', align: 'left', dx: 5, dy: -4, fontSize: 9, color: '#333' }, encoding: { x, y, text: { field: 'label' } } },
      { name: 'axis', data: { values: [{ pc1: 0, pc2: 0, pc1e: axis.pc1, pc2e: axis.pc2 }] }, mark: { type: 'rule', strokeWidth: 2, color: '#d62728' }, encoding: { x, y, x2: { field: 'pc1e' }, y2: { field: 'pc2e' } } },
    ],
  } as TopLevelSpec;
}

/** Where personas broke: attack family × condition, coloured by the share of conversations that broke. */
export function breakHeatmapSpec(cells: { condition: string; family: string; broken: number; medianTurn: number | null }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: 'A heat map: one cell per attack family and condition, its colour the share of conversations that broke (0 to 1), labelled with that share.',
    data: { values: cells.map((c) => ({ ...c, label: `${Math.round(c.broken * 100)}%` })) },
    encoding: {
      x: { field: 'family', type: 'nominal', title: 'Attack family', sort: null, axis: { labelAngle: -30 } },
      y: { field: 'condition', type: 'nominal', title: 'Condition', sort: null },
    },
    layer: [
      { name: 'cells', mark: { type: 'rect' }, encoding: { color: { field: 'broken', type: 'quantitative', title: 'Share broken', scale: { domain: [0, 1], scheme: 'reds' } }, tooltip: [{ field: 'condition' }, { field: 'family' }, { field: 'label', title: 'broke' }, { field: 'medianTurn', title: 'median breaking turn' }] } },
      { name: 'labels', mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'label' }, color: { condition: { test: 'datum.broken > 0.6', value: 'white' }, value: 'black' } } },
    ],
  } as TopLevelSpec;
}

/** Steering-effect curves: a metric against the steering coefficient, per layer. */
export function sweepSpec(rows: { layer: string; coef: number; metric: string; value: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: 'Effect of steering with the persona vector at each coefficient: inventory domain scores (1..5), judged trait expression (0..100) and the log10 perplexity of a fixed neutral text (fluency guard).',
    data: { values: rows.filter((r) => Number.isFinite(r.value)) },
    facet: { field: 'metric', type: 'nominal', title: 'Measure' },
    columns: 3,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 220,
      height: 160,
      name: 'effect',
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'coef', type: 'quantitative', title: 'Steering coefficient' },
        // Each panel's own range (a 1..5 score is not drawn from 0); perplexity comes as log10, so plain numbers read.
        y: { field: 'value', type: 'quantitative', title: 'Value (units per panel)', scale: { zero: false }, axis: { format: ',.3~r' } },
        color: { field: 'layer', type: 'nominal', title: 'Layer' },
      },
    },
  } as TopLevelSpec;
}

/** Differences B − A with 95% intervals, one row per compared quantity, against a zero line. */
export function differenceSpec(rows: { label: string; group: string; value: number; lo: number; hi: number }[], title: string, unit: string, groupTitle: string, rowTitle: string): TopLevelSpec {
  const y = { field: 'label', type: 'nominal' as const, title: rowTitle, sort: null };
  const x = { field: 'value', type: 'quantitative' as const, title: `Difference B − A (${unit})` };
  const values = withFiniteBounds(rows, 'value');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    description: `Each row is a quantity measured in both runs: the dot is run B minus run A, the bar its 95% interval; the vertical line is no difference. Unit: ${unit}.`,
    data: { values },
    width: 420,
    height: { step: 16 },
    layer: [
      { name: 'zero', data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: 'zero', type: 'quantitative' } } },
      { name: 'difference_interval', mark: { type: 'rule' }, encoding: { y, x: { field: 'lo', type: 'quantitative', title: x.title }, x2: { field: 'hi' }, color: { field: 'group', type: 'nominal', title: groupTitle } } },
      { name: 'difference', mark: { type: 'point', filled: true, size: 50 }, encoding: { y, x, color: { field: 'group', type: 'nominal', title: groupTitle }, tooltip: [{ field: 'label' }, { field: 'value', format: '.3f' }, { field: 'lo', format: '.3f' }, { field: 'hi', format: '.3f' }] } },
    ],
  } as TopLevelSpec;
}
