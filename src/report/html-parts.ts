// Small HTML helpers shared by the report's sections.

/** Model text and user strings are data, never markup. */
export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export const f2 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));

export const ci = (e: { value: number; lo: number; hi: number }): string => `${f2(e.value)} <span class="ci">[${f2(e.lo)}, ${f2(e.hi)}]</span>`;

/** A real table (copies into a spreadsheet). Cells are HTML: escape text before passing it. */
export function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

/** Numbers of any size: two decimals in the usual range, exponent notation beyond it. */
export const num = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 1e5 || (x !== 0 && Math.abs(x) < 1e-2) ? x.toExponential(2) : x.toFixed(2));
