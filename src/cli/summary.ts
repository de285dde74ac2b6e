// The end-of-run summary printed on the console: labels, verdicts, every probe's warnings
// and lines in registry order (probes/registry.ts), and the call counts.

import type { RunAnalysis } from '../runner/run.js';
import { withResults } from '../probes/registry.js';
import { constructedLines } from '../suite/roles.js';

export function summaryText(a: RunAnalysis): string {
  const out: string[] = [];
  if (a.simulated) out.push('SIMULATION: numbers from the simulated panel (sim:), not from a language model.');
  out.push(...constructedLines(a.roles));
  if (a.verdicts?.length) {
    out.push('Verdict (adopted: moved from the default toward the target; realized: kept under pressure; rules in the README):');
    for (const v of a.verdicts) out.push(`  ${v.line}`);
  }
  const ran = withResults(a);
  for (const { probe, result } of ran) out.push(...(probe.warnings?.(result) ?? []));
  for (const { probe, result } of ran) out.push(...(probe.console?.(result, a) ?? []));
  out.push(`\ntasks ${a.counters.tasks} · served from store ${a.counters.cacheHits} · errors ${a.counters.errors} (final ${a.counters.finalErrors})`);
  return out.join('\n');
}
