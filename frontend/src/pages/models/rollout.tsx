// The rollout, live (which replica serves which versions: `useRollout` of ./data) and which
// version served at a time.

import { useEffect, useState, type FormEvent } from 'react';
import { useClient } from 'urql';
import { PRODUCTION_AT_QUERY } from '../../graphql/documents';
import type { RegisteredModel, ReplicaServing } from '../../graphql/types';
import type { ProductionAtQuery, ProductionAtQueryVariables } from '../../graphql/generated';
import { apiErrors, type ApiError } from '../../graphql/errors';
import { Card, ErrorList, Spinner } from '../../components/ui';
import { useBundle } from '../../lib/bundle';
import { dateTime, pct } from '../../lib/format';
import { rolloutKey } from './data';
import { ago, localInput, toInstant } from './shared';

export function RolloutCard({ rows, models }: { rows: ReplicaServing[]; models: RegisteredModel[] }) {
  const { byHead, headColor } = useBundle();
  const [now, setNow] = useState(() => Date.now());
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


export function ServedAtCard({ models }: { models: RegisteredModel[] }) {
  const client = useClient();
  const [at, setAt] = useState(() => localInput(new Date()));
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [answer, setAnswer] = useState<{ at: string; rows: { model: string; version: ProductionAtQuery['productionAt'] }[] } | null>(null);

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
          .query<ProductionAtQuery, ProductionAtQueryVariables>(PRODUCTION_AT_QUERY, { model: m.name, at: instant }, { requestPolicy: 'network-only' })
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

