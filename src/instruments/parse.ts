// Turning a sampled free-text reply into an answer on the option scale. A reply
// that cannot be read unambiguously is missing (with the reason), never a score.

export type ParsedAnswer = { value: number } | { value: null; reason: 'refusal' | 'unparsable' | 'ambiguous' };

const REFUSAL = /\b(as an ai|i (?:can(?:no|')t|am unable to|won't|do not have personal)|i don't have (?:personal|feelings|preferences)|not able to (?:answer|rate))\b/i;

function normalize(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9 ]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Parse a reply against option labels (option i is value i + 1). Accepts a lone
 * digit in range ("4", "Answer: 4.", "(4) Moderately accurate"), or exactly one
 * option label (longest labels are matched first so "Moderately Inaccurate" is
 * not read as "Inaccurate").
 */
export function parseAnswer(reply: string, options: string[]): ParsedAnswer {
  const max = options.length;
  const digits = [...reply.matchAll(/(?<![\d.])(\d+)(?![\d.]*\d)/g)].map((m) => Number(m[1])).filter((n) => n >= 1 && n <= max);
  const unique = [...new Set(digits)];
  if (unique.length === 1) return { value: unique[0]! };
  const text = ` ${normalize(reply)} `;
  const byLength = options.map((label, i) => ({ label: normalize(label), value: i + 1 })).sort((a, b) => b.label.length - a.label.length);
  let rest = text;
  const found = new Set<number>();
  for (const { label, value } of byLength) {
    const needle = ` ${label} `;
    if (rest.includes(needle)) {
      found.add(value);
      rest = rest.split(needle).join(' ');
    }
  }
  if (found.size === 1 && unique.length <= 1) return { value: [...found][0]! };
  if (found.size > 1 || unique.length > 1) return { value: null, reason: 'ambiguous' };
  if (REFUSAL.test(reply)) return { value: null, reason: 'refusal' };
  return { value: null, reason: 'unparsable' };
}
