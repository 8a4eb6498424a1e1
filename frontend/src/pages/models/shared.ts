// What the Models page's parts share: alias names, refresh periods, formatting of versions,
// shapes and times, the models' display order.

import { useMemo } from 'react';
import type { AliasUpdate, ModelVersion, RegisteredModel } from '../../graphql/types';
import { type ApiError } from '../../graphql/errors';
import { useBundle } from '../../lib/bundle';

export const PRODUCTION = 'production';
export const SHADOW = 'shadow';
export const ARCHIVED = 'archived';
/** How often the experiments are asked again while the page is open. */
export const EXPERIMENTS_EVERY_MS = 4000;
/** How often the rollout view is read again in full (the subscription only sends changes). */
export const ROLLOUT_EVERY_MS = 15_000;
export const DEFAULT_LAST = 10_000;

export function hasAlias(v: ModelVersion, alias: string): boolean {
  return v.aliases.includes(alias);
}

export function aliasVersion(m: RegisteredModel, alias: string): number | null {
  return m.aliases.find((a) => a.alias === alias)?.version ?? null;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

export function v(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : `v${n}`;
}

/** What an alias move did, in words ("production: v1 → v2"). */
export function describeUpdate(u: AliasUpdate): string {
  if (!u.changed) return `${u.name}: ${u.alias} already pointed at ${v(u.version)}; nothing was recorded`;
  return `${u.name}: ${u.alias} ${v(u.previousVersion)} → ${v(u.version)}`;
}

/** `YYYY-MM-DDTHH:MM:SS` in local time, as `<input type="datetime-local">` wants it. */
export function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A datetime-local value (local time) as RFC 3339; null when empty or invalid. */
export function toInstant(value: string): string | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

export function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

export function shape(dims: (number | null)[]): string {
  return `[${dims.map((d) => (d === null ? 'N' : String(d))).join(', ')}]`;
}

/** Extractors first, then the heads in the bundle's order, then any other by name. */
export function useOrdered(models: RegisteredModel[]): RegisteredModel[] {
  const { byHead } = useBundle();
  return useMemo(() => {
    const extractors = models.filter((m) => m.kind === 'EXTRACTOR');
    const heads = byHead(
      models.filter((m) => m.kind === 'CLASSIFIER'),
      (m) => m.name,
    );
    return [...extractors, ...heads];
  }, [models, byHead]);
}

export interface Outcome {
  notice: string | null;
  errors: ApiError[];
}
