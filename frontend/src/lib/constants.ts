export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** The three classifier heads, in the order the dashboard shows them. */
export const HEADS = ['fast', 'balanced', 'accurate'] as const;

export const HEAD_COLORS: Record<string, string> = {
  fast: '#0ea5e9',
  balanced: '#8b5cf6',
  accurate: '#f59e0b',
};

export const CLASS_COLORS: Record<string, string> = {
  airplane: '#3b82f6',
  automobile: '#ef4444',
  bird: '#10b981',
  cat: '#f59e0b',
  deer: '#8b5cf6',
  dog: '#ec4899',
  frog: '#22c55e',
  horse: '#a16207',
  ship: '#06b6d4',
  truck: '#64748b',
};

export function headColor(model: string): string {
  return HEAD_COLORS[model] ?? '#6b7280';
}

export function classColor(cls: string): string {
  return CLASS_COLORS[cls] ?? '#94a3b8';
}

/** Sorts by the head order (fast, balanced, accurate), unknown models last by name. */
export function byHead<T>(items: T[], model: (t: T) => string): T[] {
  const rank = (m: string) => {
    const i = (HEADS as readonly string[]).indexOf(m);
    return i < 0 ? HEADS.length : i;
  };
  return [...items].sort((a, b) => rank(model(a)) - rank(model(b)) || model(a).localeCompare(model(b)));
}

export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
