// Fixed palettes: a class or a head gets its color by its index in the model bundle's order
// (`classes`, the CLASSIFIER names of `models`; see lib/bundle.ts), so any number of classes
// and heads gets stable, distinct colors. The first entries are the dashboard's historic
// colors, so the shipped bundle's order (fast, balanced, accurate; CIFAR-10) looks as before.

export const HEAD_PALETTE = ['#0ea5e9', '#8b5cf6', '#f59e0b', '#10b981', '#ef4444', '#ec4899', '#6366f1', '#84cc16'];

export const CLASS_PALETTE = [
  '#3b82f6',
  '#ef4444',
  '#10b981',
  '#f59e0b',
  '#8b5cf6',
  '#ec4899',
  '#22c55e',
  '#a16207',
  '#06b6d4',
  '#64748b',
];

/** A name the bundle does not list (a head no longer served, or before the bundle is known). */
export const UNKNOWN_HEAD_COLOR = '#6b7280';
export const UNKNOWN_CLASS_COLOR = '#94a3b8';

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(255 * c)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/**
 * The color of the `index`-th name: the palette's, then hues spread by the golden angle (always
 * `#rrggbb`, which the charts need to derive translucent fills). A negative index is unknown.
 */
export function paletteColor(palette: readonly string[], index: number, unknown: string): string {
  if (index < 0) return unknown;
  if (index < palette.length) return palette[index];
  const hue = ((index - palette.length) * 137.508 + 17) % 360;
  return hslToHex(hue, 0.62, 0.48);
}

/** Sorts by the position of each item's name in `order`; names not in it last, by name. */
export function sortByOrder<T>(items: T[], name: (t: T) => string, order: readonly string[]): T[] {
  const rank = (m: string) => {
    const i = order.indexOf(m);
    return i < 0 ? order.length : i;
  };
  return [...items].sort((a, b) => rank(name(a)) - rank(name(b)) || name(a).localeCompare(name(b)));
}

export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
