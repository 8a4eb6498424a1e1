// The model registry (F20), serving and rollout (F21), experiments (F24): every model's versions
// and alias history with promotion, rollback, archiving, shadow and A/B controls; registering a
// new ONNX version; the shadow and A/B comparisons of every head, live; back-testing a version
// on past images; which replica serves what, live; which version served at a given time.

import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useClient, useQuery } from 'urql';
import {
  ARCHIVE_MODEL_VERSION,
  BACKTEST_QUERY,
  EXPERIMENTS_QUERY,
  MODEL_ROLLOUT,
  MODEL_ROLLOUT_QUERY,
  PRODUCTION_AT_QUERY,
  PROMOTE_MODEL_VERSION,
  REGISTERED_MODELS_QUERY,
  REGISTER_MODEL_VERSION,
  ROLLBACK_MODEL,
  SET_MODEL_ALIAS,
  START_AB_TEST,
  STOP_AB_TEST,
} from '../graphql/documents';
import type {
  AbComparison,
  AliasMove,
  AliasUpdate,
  Backtest,
  Json,
  ModelKind,
  ModelVersion,
  RegisteredModel,
  ReplicaServing,
  ShadowComparison,
} from '../graphql/types';
import { apiErrors, type ApiError } from '../graphql/errors';
import { Card, ErrorList, Spinner } from '../components/ui';
import { PairedComparisonView } from '../components/experiments';
import { useBundle } from '../lib/bundle';
import { bytes, dateTime, ms, num, pct, time } from '../lib/format';
import { useSubscriptionEvents, useThrottle } from '../lib/hooks';
import './models.css';

const PRODUCTION = 'production';
const SHADOW = 'shadow';
const ARCHIVED = 'archived';
/** How often the experiments are asked again while the page is open. */
const EXPERIMENTS_EVERY_MS = 4000;
/** How often the rollout view is read again in full (the subscription only sends changes). */
const ROLLOUT_EVERY_MS = 15_000;
const DEFAULT_LAST = 10_000;

// ---- helpers -------------------------------------------------------------------------------

function hasAlias(v: ModelVersion, alias: string): boolean {
  return v.aliases.includes(alias);
}

function aliasVersion(m: RegisteredModel, alias: string): number | null {
  return m.aliases.find((a) => a.alias === alias)?.version ?? null;
}

function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

function v(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : `v${n}`;
}

/** What an alias move did, in words ("production: v1 → v2"). */
function describeUpdate(u: AliasUpdate): string {
  if (!u.changed) return `${u.name}: ${u.alias} already pointed at ${v(u.version)}; nothing was recorded`;
  return `${u.name}: ${u.alias} ${v(u.previousVersion)} → ${v(u.version)}`;
}

/** `YYYY-MM-DDTHH:MM:SS` in local time, as `<input type="datetime-local">` wants it. */
function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A datetime-local value (local time) as RFC 3339; null when empty or invalid. */
function toInstant(value: string): string | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function shape(dims: (number | null)[]): string {
  return `[${dims.map((d) => (d === null ? 'N' : String(d))).join(', ')}]`;
}

/** Extractors first, then the heads in the bundle's order, then any other by name. */
function useOrdered(models: RegisteredModel[]): RegisteredModel[] {
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

export function AliasBadge({ alias }: { alias: string }) {
  const known = [PRODUCTION, SHADOW, ARCHIVED, 'staging'].includes(alias) ? alias : 'other';
  return (
    <span className={`badge alias alias-${known}`} data-testid="alias-badge" data-alias={alias}>
      {alias}
    </span>
  );
}

// ---- the registry --------------------------------------------------------------------------

interface Outcome {
  notice: string | null;
  errors: ApiError[];
}

function VersionDetails({ version }: { version: ModelVersion }) {
  const json = (label: string, value: Json) =>
    value === null || value === undefined ? null : (
      <div>
        <span className="k">{label}</span>
        <pre className="json">{JSON.stringify(value, null, 2)}</pre>
      </div>
    );
  return (
    <div className="version-details" data-testid="version-details">
      <dl className="meta">
        <dt>sha256</dt>
        <dd>
          <code className="hash">{version.sha256}</code>
        </dd>
        <dt>artifact</dt>
        <dd>
          <code>{version.artifactKey}</code>
        </dd>
        <dt>input → output</dt>
        <dd>
          <code>{shape(version.inputShape)}</code> → <code>{shape(version.outputShape)}</code>
        </dd>
        <dt>descriptor</dt>
        <dd>
          {version.descriptorDim}-d{version.inputSize ? ` · ${version.inputSize} px input` : ''}
        </dd>
        {version.extractorLabel && (
          <>
            <dt>extractor</dt>
            <dd>
              <code>{version.extractorLabel}</code>
            </dd>
          </>
        )}
        {version.classes && (
          <>
            <dt>classes</dt>
            <dd className="small">{version.classes.join(', ')}</dd>
          </>
        )}
      </dl>
      <div className="json-grid">
        {json('metrics', version.metrics)}
        {json('card', version.card)}
        {json('lineage', version.lineage)}
      </div>
    </div>
  );
}

function HistoryTable({ history }: { history: AliasMove[] }) {
  const [all, setAll] = useState(false);
  const LIMIT = 5;
  const rows = all ? history : history.slice(0, LIMIT);
  return (
    <div className="alias-history">
      <h3 className="subtitle">Alias history</h3>
      <table className="table compact-table" data-testid="alias-history">
        <thead>
          <tr>
            <th>When</th>
            <th>Alias</th>
            <th>Move</th>
            <th>By</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No alias ever moved.
              </td>
            </tr>
          )}
          {rows.map((h, i) => (
            <tr
              key={`${h.changedAt}-${h.alias}-${i}`}
              data-testid="alias-move"
              data-alias={h.alias}
              data-from={h.previousVersion ?? ''}
              data-to={h.version ?? ''}
            >
              <td className="muted" title={h.changedAt}>
                {dateTime(h.changedAt)}
              </td>
              <td>
                <AliasBadge alias={h.alias} />
              </td>
              <td className="move">
                {v(h.previousVersion)} → <strong>{v(h.version)}</strong>
              </td>
              <td>{h.changedBy}</td>
              <td className="reason" title={h.reason ?? ''}>
                {h.reason ?? <span className="muted">—</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {history.length > LIMIT && (
        <button className="btn small-btn" onClick={() => setAll((a) => !a)}>
          {all ? 'Show the latest' : `Show all ${history.length}`}
        </button>
      )}
    </div>
  );
}

function ModelCard({
  model,
  ab,
  onChanged,
}: {
  model: RegisteredModel;
  /** The head's running A/B test (its candidate's label and share), if any. */
  ab: { candidate: string; share: number | null } | null;
  onChanged: () => void;
}) {
  const client = useClient();
  const { headColor } = useBundle();
  const [reason, setReason] = useState('');
  const [share, setShare] = useState('0.1');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>({ notice: null, errors: [] });
  const [open, setOpen] = useState<number | null>(null);

  const head = model.kind === 'CLASSIFIER';
  const production = model.production?.version ?? null;
  const shadow = aliasVersion(model, SHADOW);
  const lastProductionMove = model.history.find((h) => h.alias === PRODUCTION);
  const canRollBack = !!lastProductionMove && lastProductionMove.previousVersion !== null;
  const why = reason.trim() || null;

  const run = async <T,>(doc: string, variables: Record<string, unknown>, describe: (data: T) => string) => {
    setBusy(true);
    setOutcome({ notice: null, errors: [] });
    const r = await client.mutation<T>(doc, variables).toPromise();
    setBusy(false);
    if (r.data && !r.error) {
      setOutcome({ notice: describe(r.data), errors: [] });
      setReason('');
    } else {
      setOutcome({ notice: null, errors: apiErrors(r.error) });
    }
    onChanged();
  };

  const alias = (d: Record<string, AliasUpdate>) => describeUpdate(Object.values(d)[0]);
  const promote = (version: number) => run(PROMOTE_MODEL_VERSION, { name: model.name, version, reason: why }, alias);
  const archive = (version: number) => run(ARCHIVE_MODEL_VERSION, { name: model.name, version, reason: why }, alias);
  const makeShadow = (version: number) =>
    run(SET_MODEL_ALIAS, { name: model.name, alias: SHADOW, version, reason: why }, alias);
  const stopShadow = () => run(SET_MODEL_ALIAS, { name: model.name, alias: SHADOW, version: null, reason: why }, alias);
  const rollback = () => run(ROLLBACK_MODEL, { name: model.name, reason: why }, alias);
  const startAb = (version: number) => {
    const s = Number(share);
    return run<{ startAbTest: boolean }>(START_AB_TEST, { model: model.name, version, share: s }, () =>
      `${model.name}: A/B test started, v${version} answers ${pct(s, 0)} of the images`,
    );
  };
  const stopAb = () =>
    run<{ stopAbTest: boolean }>(STOP_AB_TEST, { model: model.name }, (d) =>
      d.stopAbTest ? `${model.name}: A/B test stopped, production answers every image` : `${model.name}: no A/B test was running`,
    );

  return (
    <section
      className="card model-card"
      data-testid={`model-${model.name}`}
      data-kind={model.kind}
      data-production-version={production ?? ''}
      data-production-label={model.production?.label ?? ''}
      style={head ? { borderTopColor: headColor(model.name) } : undefined}
    >
      <div className="card-head">
        <h2 className="model-title">
          {model.name} <span className="badge kind">{model.kind.toLowerCase()}</span>
          <span className="muted small">
            production{' '}
            <strong data-testid="production-label">
              {model.production ? `v${model.production.version} · ${model.production.label}` : 'none'}
            </strong>
            {shadow !== null && <> · shadow v{shadow}</>}
            {ab && (
              <>
                {' '}
                · A/B <code>{ab.candidate}</code> {ab.share !== null ? pct(ab.share, 0) : ''}
              </>
            )}
          </span>
        </h2>
        <div className="card-actions model-actions">
          <input
            type="text"
            className="reason-input"
            placeholder="reason (optional)"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            data-testid="reason"
            aria-label="Reason of the next change"
          />
          {head && (
            <label className="inline-field" title="The A/B candidate's share of the images (0 < share ≤ 1)">
              share
              <input
                type="number"
                min={0.01}
                max={1}
                step={0.01}
                value={share}
                onChange={(e) => setShare(e.target.value)}
                data-testid="ab-share"
              />
            </label>
          )}
          <button
            className="btn small-btn"
            disabled={busy || !canRollBack}
            onClick={() => void rollback()}
            data-testid="rollback"
            title={canRollBack ? `Put v${lastProductionMove!.previousVersion} back in production` : 'No earlier production version'}
          >
            Roll back
          </button>
          {head && (
            <>
              <button className="btn small-btn" disabled={busy || shadow === null} onClick={() => void stopShadow()} data-testid="stop-shadow">
                Stop shadow
              </button>
              <button className="btn small-btn" disabled={busy || !ab} onClick={() => void stopAb()} data-testid="stop-ab">
                Stop A/B
              </button>
            </>
          )}
          {busy && <Spinner />}
        </div>
      </div>
      {outcome.notice && (
        <div className="notice ok small" data-testid="model-notice" role="status">
          {outcome.notice}
        </div>
      )}
      <ErrorList errors={outcome.errors} testId="model-error" />
      <div className="model-body">
        <div className="versions">
          <table className="table compact-table versions-table" data-testid="versions">
            <thead>
              <tr>
                <th>#</th>
                <th>Label</th>
                <th>Registered</th>
                <th>sha256</th>
                <th className="num">Size</th>
                <th>Aliases</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {[...model.versions].reverse().map((ver) => {
                const isProd = ver.version === production;
                const isShadow = hasAlias(ver, SHADOW);
                const archived = hasAlias(ver, ARCHIVED);
                const isCandidate = ab?.candidate === ver.label;
                return [
                  <tr
                    key={ver.version}
                    className={`version-row${isProd ? ' production' : ''}${archived ? ' archived' : ''}`}
                    data-testid="version-row"
                    data-version={ver.version}
                    data-label={ver.label}
                    data-production={isProd ? 'true' : 'false'}
                    data-aliases={ver.aliases.join(' ')}
                  >
                    <td>
                      <strong>v{ver.version}</strong>
                    </td>
                    <td>
                      <code>{ver.label}</code>
                    </td>
                    <td className="small" title={ver.registeredAt}>
                      {dateTime(ver.registeredAt)} <span className="muted">by {ver.registeredBy}</span>
                    </td>
                    <td>
                      <code title={ver.sha256}>{shortSha(ver.sha256)}</code>
                    </td>
                    <td className="num">{bytes(ver.sizeBytes)}</td>
                    <td className="aliases">
                      {ver.aliases.map((a) => (
                        <AliasBadge key={a} alias={a} />
                      ))}
                      {isCandidate && <span className="badge alias alias-candidate">A/B {ab?.share !== null ? pct(ab?.share, 0) : ''}</span>}
                    </td>
                    <td className="version-actions">
                      <button
                        className="btn small-btn primary"
                        disabled={busy || isProd}
                        onClick={() => void promote(ver.version)}
                        data-testid="promote"
                        title={isProd ? 'Already in production' : `Put v${ver.version} in production`}
                      >
                        Promote
                      </button>
                      {head && (
                        <>
                          <button
                            className="btn small-btn"
                            disabled={busy || isProd || isShadow}
                            onClick={() => void makeShadow(ver.version)}
                            data-testid="make-shadow"
                            title="Score every image beside production, never the answer"
                          >
                            Shadow
                          </button>
                          <button
                            className="btn small-btn"
                            disabled={busy || isProd}
                            onClick={() => void startAb(ver.version)}
                            data-testid="start-ab"
                            title={`Answer ${share} of the images with v${ver.version}`}
                          >
                            A/B
                          </button>
                        </>
                      )}
                      <button
                        className="btn small-btn danger"
                        disabled={busy || isProd || archived}
                        onClick={() => void archive(ver.version)}
                        data-testid="archive"
                        title={isProd ? 'The production version cannot be archived' : 'Take it out of service'}
                      >
                        Archive
                      </button>
                      <button
                        className="btn small-btn ghost"
                        onClick={() => setOpen((o) => (o === ver.version ? null : ver.version))}
                        aria-expanded={open === ver.version}
                        title="Shapes, checksum, metrics, card, lineage"
                        data-testid="version-more"
                      >
                        {open === ver.version ? '▴' : '▾'}
                      </button>
                    </td>
                  </tr>,
                  open === ver.version ? (
                    <tr key={`${ver.version}-details`} className="details-row">
                      <td colSpan={7}>
                        <VersionDetails version={ver} />
                      </td>
                    </tr>
                  ) : null,
                ];
              })}
            </tbody>
          </table>
        </div>
        <HistoryTable history={model.history} />
      </div>
    </section>
  );
}

// ---- register ------------------------------------------------------------------------------

function parseJson(field: string, text: string): { value: Json | null; error: ApiError | null } {
  if (!text.trim()) return { value: null, error: null };
  try {
    return { value: JSON.parse(text) as Json, error: null };
  } catch (e) {
    return { value: null, error: { code: 'INVALID_JSON', message: `${field}: ${(e as Error).message}` } };
  }
}

function RegisterCard({ models, onRegistered }: { models: RegisteredModel[]; onRegistered: () => void }) {
  const client = useClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<ModelKind>('CLASSIFIER');
  const [label, setLabel] = useState('');
  const [extractor, setExtractor] = useState('');
  const [metrics, setMetrics] = useState('');
  const [card, setCard] = useState('');
  const [lineage, setLineage] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [result, setResult] = useState<ModelVersion | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);

  // An existing model keeps its kind.
  const existing = models.find((m) => m.name === name.trim());
  useEffect(() => {
    if (existing) setKind(existing.kind);
  }, [existing]);
  const extractors = models.filter((m) => m.kind === 'EXTRACTOR').flatMap((m) => m.versions);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors([]);
    setResult(null);
    if (!file) {
      setErrors([{ code: 'NO_FILE', message: 'choose an ONNX file' }]);
      return;
    }
    const parsed = [parseJson('metrics', metrics), parseJson('card', card), parseJson('lineage', lineage)];
    const bad = parsed.flatMap((p) => (p.error ? [p.error] : []));
    if (bad.length) {
      setErrors(bad);
      return;
    }
    setBusy(true);
    const r = await client
      .mutation<{ registerModelVersion: ModelVersion }>(REGISTER_MODEL_VERSION, {
        file,
        name: name.trim(),
        kind,
        label: label.trim() || null,
        extractorLabel: kind === 'CLASSIFIER' && extractor ? extractor : null,
        metrics: parsed[0].value,
        card: parsed[1].value,
        lineage: parsed[2].value,
      })
      .toPromise();
    setBusy(false);
    if (r.data?.registerModelVersion) {
      setResult(r.data.registerModelVersion);
      setFile(null);
      setLabel('');
      if (inputRef.current) inputRef.current.value = '';
      onRegistered();
    } else {
      setErrors(apiErrors(r.error));
    }
  };

  return (
    <Card title="Register a version" testId="register">
      <form className="register-form" onSubmit={(e) => void submit(e)}>
        <label className="field wide">
          <span>ONNX file</span>
          <input
            ref={inputRef}
            type="file"
            accept=".onnx,application/octet-stream"
            onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            data-testid="register-file"
          />
        </label>
        <label className="field">
          <span>Model name</span>
          <input
            type="text"
            list="registered-model-names"
            placeholder="existing or new"
            value={name}
            onChange={(e) => setName(e.target.value)}
            required
            data-testid="register-name"
          />
          <datalist id="registered-model-names">
            {models.map((m) => (
              <option key={m.name} value={m.name} />
            ))}
          </datalist>
        </label>
        <label className="field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as ModelKind)} data-testid="register-kind">
            <option value="CLASSIFIER">classifier (head)</option>
            <option value="EXTRACTOR">extractor</option>
          </select>
        </label>
        <label className="field">
          <span>Label (optional)</span>
          <input
            type="text"
            placeholder={name.trim() ? `${name.trim()}-v${(existing?.versions.length ?? 0) + 1}` : 'name-vN'}
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            data-testid="register-label"
          />
        </label>
        {kind === 'CLASSIFIER' && (
          <label className="field">
            <span>Extractor</span>
            <select value={extractor} onChange={(e) => setExtractor(e.target.value)} data-testid="register-extractor">
              <option value="">production's</option>
              {extractors.map((x) => (
                <option key={x.label} value={x.label}>
                  {x.label}
                </option>
              ))}
            </select>
          </label>
        )}
        <details className="field wide json-fields">
          <summary>Metrics, card, lineage (JSON, optional)</summary>
          <textarea placeholder='metrics, e.g. {"test_accuracy": 0.905}' value={metrics} onChange={(e) => setMetrics(e.target.value)} data-testid="register-metrics" />
          <textarea placeholder='card, e.g. {"intended_use": "…"}' value={card} onChange={(e) => setCard(e.target.value)} data-testid="register-card" />
          <textarea placeholder='lineage, e.g. {"run": "…", "data": "…"}' value={lineage} onChange={(e) => setLineage(e.target.value)} data-testid="register-lineage" />
        </details>
        <div className="field buttons wide">
          <button type="submit" className="btn primary" disabled={busy || !file || !name.trim()} data-testid="register-submit">
            Register
          </button>
          {busy && (
            <span className="muted small">
              <Spinner /> checking and storing…
            </span>
          )}
        </div>
      </form>
      <p className="muted small">
        Checked before anything is stored: one float input and one output, shapes that fit the kind, loads on the serving
        runtime, a warm-up inference. A refusal stores nothing.
      </p>
      {result && (
        <div
          className="notice ok small"
          data-testid="register-result"
          data-name={result.name}
          data-version={result.version}
          data-label={result.label}
          role="status"
        >
          Registered <strong>{result.name}</strong> <strong>v{result.version}</strong> · <code>{result.label}</code> ·{' '}
          {bytes(result.sizeBytes)} · sha256 <code title={result.sha256}>{shortSha(result.sha256)}</code> ·{' '}
          <code>{shape(result.inputShape)}</code> → <code>{shape(result.outputShape)}</code>. Not serving yet: promote it, make it
          the shadow or start an A/B test.
        </div>
      )}
      <ErrorList errors={errors} testId="register-error" />
    </Card>
  );
}

// ---- experiments ---------------------------------------------------------------------------

interface Experiments {
  shadow: ShadowComparison | null;
  ab: AbComparison | null;
  errors: ApiError[];
  at: string | null;
  loaded: boolean;
}

const NO_EXPERIMENTS: Experiments = { shadow: null, ab: null, errors: [], at: null, loaded: false };

/** Every head's shadow and A/B comparisons, asked again every few seconds while mounted. */
function useExperiments(heads: string[], last: number, tick: number): Record<string, Experiments> {
  const client = useClient();
  const [state, setState] = useState<Record<string, Experiments>>({});
  const key = heads.join('\n');
  useEffect(() => {
    if (heads.length === 0) return;
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout>;
    const ask = async () => {
      const answers = await Promise.all(
        heads.map(async (model) => {
          const r = await client
            .query<{ shadowComparison: ShadowComparison | null; abComparison: AbComparison | null }>(
              EXPERIMENTS_QUERY,
              { model, last },
              { requestPolicy: 'network-only' },
            )
            .toPromise();
          const e: Experiments = r.data
            ? { shadow: r.data.shadowComparison, ab: r.data.abComparison, errors: apiErrors(r.error), at: new Date().toISOString(), loaded: true }
            : { ...NO_EXPERIMENTS, errors: apiErrors(r.error), at: new Date().toISOString(), loaded: true };
          return [model, e] as const;
        }),
      );
      if (cancelled) return;
      setState((prev) => {
        const next = { ...prev };
        for (const [model, e] of answers) {
          // A failed refresh keeps the last figures beside its error.
          next[model] = e.errors.length && !e.shadow && !e.ab && prev[model] ? { ...prev[model], errors: e.errors } : e;
        }
        return next;
      });
      timer = setTimeout(() => void ask(), EXPERIMENTS_EVERY_MS);
    };
    void ask();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, key, last, tick]);
  return state;
}

function ExperimentCard({ head, experiments }: { head: string; experiments: Experiments | undefined }) {
  const { headColor } = useBundle();
  const e = experiments ?? NO_EXPERIMENTS;
  return (
    <div className="experiment" data-testid={`experiments-${head}`} style={{ borderTopColor: headColor(head) }}>
      <div className="row between">
        <h3>{head}</h3>
        <span className="muted small">{e.at ? `updated ${time(e.at)}` : <Spinner />}</span>
      </div>
      <ErrorList errors={e.errors} testId="experiments-error" />
      {e.loaded && !e.shadow && !e.ab && e.errors.length === 0 && (
        <p className="muted small" data-testid="no-experiment">
          No shadow and no A/B test: make a version the shadow or start an A/B test above.
        </p>
      )}
      {e.shadow && (
        <div className="experiment-part" data-testid="shadow-comparison" data-shadow={e.shadow.shadow}>
          <div className="experiment-title">
            <span className="badge alias alias-shadow">shadow</span> <code>{e.shadow.shadow}</code>{' '}
            <span className="muted small">against production's answers (A: production, B: shadow)</span>
          </div>
          <PairedComparisonView comparison={e.shadow.comparison} labelA="production" labelB={e.shadow.shadow} />
        </div>
      )}
      {e.ab && (
        <div className="experiment-part" data-testid="ab-comparison" data-candidate={e.ab.candidate} data-share={e.ab.share}>
          <div className="experiment-title">
            <span className="badge alias alias-candidate">A/B</span> <code>{e.ab.candidate}</code> answers {pct(e.ab.share, 0)}{' '}
            <span className="muted small">
              against <code>{e.ab.production}</code> (A: production, B: candidate; each scores every image)
            </span>
          </div>
          <PairedComparisonView comparison={e.ab.comparison} labelA={e.ab.production} labelB={e.ab.candidate} />
        </div>
      )}
    </div>
  );
}

// ---- back-test -----------------------------------------------------------------------------

function BacktestCard({ heads }: { heads: RegisteredModel[] }) {
  const client = useClient();
  const [model, setModel] = useState('');
  const [version, setVersion] = useState('');
  const [last, setLast] = useState(String(DEFAULT_LAST));
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [result, setResult] = useState<{ backtest: Backtest; roundTripMs: number; production: string } | null>(null);

  const head = heads.find((h) => h.name === model) ?? heads[0];
  const headName = head?.name ?? '';
  // The newest version not in production is the likeliest to back-test.
  const defaultVersion = head ? ([...head.versions].reverse().find((x) => x.version !== head.production?.version) ?? head.versions[0]) : undefined;
  const chosen = head?.versions.find((x) => String(x.version) === version) ?? defaultVersion;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!head || !chosen) return;
    setBusy(true);
    setErrors([]);
    const started = performance.now();
    const r = await client
      .query<{ backtest: Backtest }>(
        BACKTEST_QUERY,
        { model: head.name, version: chosen.version, since: toInstant(since), until: toInstant(until), last: Math.round(Number(last)) },
        { requestPolicy: 'network-only' },
      )
      .toPromise();
    setBusy(false);
    if (r.data?.backtest) {
      setResult({ backtest: r.data.backtest, roundTripMs: performance.now() - started, production: head.production?.label ?? 'production' });
    } else {
      setResult(null);
      setErrors(apiErrors(r.error));
    }
  };

  return (
    <Card title="Back-test" testId="backtest">
      <p className="muted small">
        A registered head version scored on the stored descriptors of past images, against what production answered them —
        before any traffic is shifted.
      </p>
      <form className="form-grid" onSubmit={(e) => void submit(e)}>
        <label className="field">
          <span>Head</span>
          <select
            value={headName}
            onChange={(e) => {
              setModel(e.target.value);
              setVersion('');
            }}
            data-testid="backtest-model"
          >
            {heads.map((h) => (
              <option key={h.name} value={h.name}>
                {h.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Version</span>
          <select value={chosen ? String(chosen.version) : ''} onChange={(e) => setVersion(e.target.value)} data-testid="backtest-version">
            {head?.versions.map((x) => (
              <option key={x.version} value={x.version}>
                v{x.version} · {x.label}
                {x.version === head.production?.version ? ' (production)' : ''}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Past images</span>
          <input type="number" min={1} max={1_000_000} step={1} value={last} onChange={(e) => setLast(e.target.value)} data-testid="backtest-last" />
        </label>
        <label className="field">
          <span>Since (optional)</span>
          <input type="datetime-local" step={1} value={since} onChange={(e) => setSince(e.target.value)} data-testid="backtest-since" />
        </label>
        <label className="field">
          <span>Until (optional)</span>
          <input type="datetime-local" step={1} value={until} onChange={(e) => setUntil(e.target.value)} data-testid="backtest-until" />
        </label>
        <div className="field buttons">
          <button type="submit" className="btn primary" disabled={busy || !chosen} data-testid="backtest-run">
            Run back-test
          </button>
          {busy && <Spinner />}
        </div>
      </form>
      <ErrorList errors={errors} testId="backtest-error" />
      {result && (
        <div className="backtest-result" data-testid="backtest-result" data-n={result.backtest.comparison.n} data-seconds={result.backtest.seconds}>
          <div className="experiment-title">
            <strong>
              {result.backtest.model} v{result.backtest.version}
            </strong>{' '}
            <code>{result.backtest.label}</code> against production's answers ·{' '}
            <span data-testid="backtest-seconds">scored in {ms(result.backtest.seconds * 1000)}</span>{' '}
            <span className="muted small">({ms(result.roundTripMs, 0)} round trip)</span>
          </div>
          <PairedComparisonView comparison={result.backtest.comparison} labelA="production" labelB={result.backtest.label} />
          <p className="muted small">
            A is the answer each image got then (a candidate's, for the images it answered in an A/B test). Latencies are not
            alike: A's were measured live per image, B's are amortised over batches of stored descriptors.
          </p>
        </div>
      )}
    </Card>
  );
}

// ---- rollout -------------------------------------------------------------------------------

function rolloutKey(s: ReplicaServing): string {
  return `${s.replica}\n${s.stage}`;
}

/** The rollout view: the subscription's events, and the whole view again now and then (for `at`). */
function useRollout(onChange: () => void): ReplicaServing[] {
  const client = useClient();
  const [rows, setRows] = useState<Map<string, ReplicaServing>>(new Map());
  const merge = useCallback((items: ReplicaServing[], fromEvent: boolean) => {
    setRows((prev) => {
      const next = new Map(prev);
      for (const s of items) {
        const old = next.get(rolloutKey(s));
        // An event is always the newest word; a re-read only refreshes what is older.
        if (fromEvent || !old || old.at <= s.at) next.set(rolloutKey(s), s);
      }
      return next;
    });
  }, []);
  useSubscriptionEvents<{ modelRollout: ReplicaServing }>(MODEL_ROLLOUT, {}, (d) => {
    merge([d.modelRollout], true);
    onChange();
  });
  useEffect(() => {
    let cancelled = false;
    const read = async () => {
      const r = await client.query<{ modelRollout: ReplicaServing[] }>(MODEL_ROLLOUT_QUERY, {}, { requestPolicy: 'network-only' }).toPromise();
      if (!cancelled && r.data) merge(r.data.modelRollout, false);
    };
    const t = setInterval(() => void read(), ROLLOUT_EVERY_MS);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, [client, merge]);
  return useMemo(() => [...rows.values()], [rows]);
}

function RolloutCard({ rows, models }: { rows: ReplicaServing[]; models: RegisteredModel[] }) {
  const { byHead, headColor } = useBundle();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const registryProduction = new Map(models.map((m) => [m.name, m.production?.label ?? null]));
  const sorted = byHead(
    [...rows].sort((a, b) => a.replica.localeCompare(b.replica) || a.stage.localeCompare(b.stage)),
    (s) => s.model,
  );
  return (
    <Card
      title="Rollout"
      testId="rollout"
      actions={<span className="muted small">live (modelRollout subscription) · {rows.length} replica stage{rows.length === 1 ? '' : 's'}</span>}
    >
      <table className="table compact-table" data-testid="rollout-table">
        <thead>
          <tr>
            <th>Replica</th>
            <th>Stage</th>
            <th>Production</th>
            <th>Shadow</th>
            <th>Candidate</th>
            <th className="num">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {sorted.length === 0 && (
            <tr>
              <td colSpan={6} className="muted" data-testid="rollout-empty">
                No replica has said what it serves yet.
              </td>
            </tr>
          )}
          {sorted.map((s) => {
            const expected = registryProduction.get(s.model);
            const behind = expected !== undefined && expected !== null && expected !== s.production;
            return (
              <tr
                key={rolloutKey(s)}
                data-testid="rollout-row"
                data-replica={s.replica}
                data-stage={s.stage}
                data-model={s.model}
                data-production={s.production}
                data-shadow={s.shadow ?? ''}
                data-candidate={s.candidate ?? ''}
              >
                <td>
                  <code>{s.replica}</code>
                </td>
                <td>
                  <span className="model-tag" style={{ background: headColor(s.model) }}>
                    {s.stage}
                  </span>
                </td>
                <td>
                  <code>{s.production}</code>
                  {behind && (
                    <span className="badge alias alias-behind" title={`the registry's production is ${expected}`}>
                      ≠ registry
                    </span>
                  )}
                </td>
                <td>{s.shadow ? <code>{s.shadow}</code> : <span className="muted">—</span>}</td>
                <td>
                  {s.candidate ? (
                    <>
                      <code>{s.candidate}</code> <span className="muted">{s.share !== null ? pct(s.share, 0) : ''}</span>
                    </>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td className="num muted" title={s.at}>
                  {ago(s.at, now)}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Card>
  );
}

// ---- production at -------------------------------------------------------------------------

function ServedAtCard({ models }: { models: RegisteredModel[] }) {
  const client = useClient();
  const [at, setAt] = useState(() => localInput(new Date()));
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [answer, setAnswer] = useState<{ at: string; rows: { model: string; version: ModelVersion | null }[] } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const instant = toInstant(at);
    if (!instant) {
      setErrors([{ code: 'INVALID_ARGUMENT', message: 'pick a date and a time' }]);
      return;
    }
    setBusy(true);
    setErrors([]);
    const answers = await Promise.all(
      models.map(async (m) => {
        const r = await client
          .query<{ productionAt: ModelVersion | null }>(PRODUCTION_AT_QUERY, { model: m.name, at: instant }, { requestPolicy: 'network-only' })
          .toPromise();
        return { model: m.name, version: r.data?.productionAt ?? null, errors: apiErrors(r.error) };
      }),
    );
    setBusy(false);
    setErrors(answers.flatMap((a) => a.errors));
    setAnswer({ at: instant, rows: answers.map(({ model, version }) => ({ model, version })) });
  };

  return (
    <Card title="Which version served at" testId="served-at">
      <form className="row wrap" onSubmit={(e) => void submit(e)}>
        <input type="datetime-local" step={1} value={at} onChange={(e) => setAt(e.target.value)} data-testid="served-at-input" />
        <button type="submit" className="btn primary" disabled={busy || models.length === 0} data-testid="served-at-run">
          Ask
        </button>
        <button type="button" className="btn" onClick={() => setAt(localInput(new Date()))}>
          Now
        </button>
        {busy && <Spinner />}
      </form>
      <ErrorList errors={errors} testId="served-at-error" />
      {answer && (
        <table className="table compact-table served-at" data-testid="served-at-table" data-at={answer.at}>
          <thead>
            <tr>
              <th>Model</th>
              <th>In production at {dateTime(answer.at)}</th>
            </tr>
          </thead>
          <tbody>
            {answer.rows.map((r) => (
              <tr key={r.model} data-testid="served-at-row" data-model={r.model} data-version={r.version?.version ?? ''}>
                <td>
                  <strong>{r.model}</strong>
                </td>
                <td>
                  {r.version ? (
                    <>
                      v{r.version.version} · <code>{r.version.label}</code>
                    </>
                  ) : (
                    <span className="muted">none (not registered or not in production yet)</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

// ---- the page ------------------------------------------------------------------------------

export function ModelsPage() {
  const [{ data: fresh, error, fetching }, reexecute] = useQuery<{ registeredModels: RegisteredModel[] }>({
    query: REGISTERED_MODELS_QUERY,
    requestPolicy: 'network-only',
  });
  const last = useRef<RegisteredModel[] | undefined>(undefined);
  if (fresh) last.current = fresh.registeredModels;
  const models = useOrdered(fresh?.registeredModels ?? last.current ?? []);

  // A change made here, or seen live in the rollout (a promotion from the CLI), reads the
  // registry again; and the experiments at once.
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => {
    reexecute({ requestPolicy: 'network-only' });
    setTick((t) => t + 1);
  }, [reexecute]);
  const reloadSoon = useThrottle(() => reexecute({ requestPolicy: 'network-only' }), 1000);
  const rollout = useRollout(reloadSoon);
  // Nothing announces a registration made elsewhere: read the registry again now and then.
  useEffect(() => {
    const t = setInterval(() => reexecute({ requestPolicy: 'network-only' }), 15_000);
    return () => clearInterval(t);
  }, [reexecute]);

  const heads = models.filter((m) => m.kind === 'CLASSIFIER');
  const headNames = heads.map((h) => h.name);
  const [experimentsLast, setExperimentsLast] = useState(String(DEFAULT_LAST));
  const lastImages = Math.max(1, Math.min(1_000_000, Math.round(Number(experimentsLast)) || DEFAULT_LAST));
  const experiments = useExperiments(headNames, lastImages, tick);

  /** The head's A/B test: from its comparison, else from what a replica says it serves. */
  const abOf = (name: string) => {
    const ab = experiments[name]?.ab;
    if (ab) return { candidate: ab.candidate, share: ab.share };
    const serving = rollout.find((s) => s.model === name && s.candidate);
    return serving ? { candidate: serving.candidate!, share: serving.share } : null;
  };

  const versions = models.reduce((n, m) => n + m.versions.length, 0);
  return (
    <div className="page models-page">
      <div className="row between wrap">
        <h1>Models</h1>
        <span className="muted" data-testid="models-summary">
          {models.length ? `${models.length} models · ${versions} versions · ${num(rollout.length)} serving replica stages` : ''}
        </span>
      </div>
      <ErrorList errors={apiErrors(error)} />
      {!models.length && fetching && (
        <p>
          <Spinner /> loading the registry…
        </p>
      )}

      <div className="stack" data-testid="registry">
        {models.map((m) => (
          <ModelCard key={m.name} model={m} ab={m.kind === 'CLASSIFIER' ? abOf(m.name) : null} onChanged={reload} />
        ))}
      </div>

      <div className="grid models-grid">
        <RegisterCard models={models} onRegistered={reload} />
        <ServedAtCard models={models} />
      </div>

      <RolloutCard rows={rollout} models={models} />

      <Card
        title="Experiments"
        testId="experiments"
        actions={
          <label className="inline-field">
            latest
            <input type="number" min={1} max={1_000_000} step={1} value={experimentsLast} onChange={(e) => setExperimentsLast(e.target.value)} data-testid="experiments-last" />
            images · every {EXPERIMENTS_EVERY_MS / 1000} s
          </label>
        }
      >
        <p className="muted small">
          A shadow scores every image beside production and is never the answer; in an A/B test the candidate answers its share
          and each version scores every image. Paired on the same images: accuracy and weighted F1 on the labelled ones, the
          accuracy difference with its 95% interval, McNemar's exact test on the discordant pairs.
        </p>
        <div className="grid experiments-grid">
          {heads.map((h) => (
            <ExperimentCard key={h.name} head={h.name} experiments={experiments[h.name]} />
          ))}
        </div>
      </Card>

      <BacktestCard heads={heads} />
    </div>
  );
}
