// Experiments: every head's shadow and A/B comparisons (asked again by `useExperiments` of
// ./data), and back-testing a version on past images' stored descriptors.

import { useState, type FormEvent } from 'react';
import { useClient } from 'urql';
import { BACKTEST_QUERY } from '../../graphql/documents';
import type { Backtest, RegisteredModel } from '../../graphql/types';
import type { BacktestQuery, BacktestQueryVariables } from '../../graphql/generated';
import { apiErrors, type ApiError } from '../../graphql/errors';
import { Card, ErrorList, Spinner } from '../../components/ui';
import { PairedComparisonView } from '../../components/experiments';
import { useBundle } from '../../lib/bundle';
import { ms, pct, time } from '../../lib/format';
import { NO_EXPERIMENTS, type Experiments } from './data';
import { DEFAULT_LAST, toInstant } from './shared';

export function ExperimentCard({ head, experiments }: { head: string; experiments: Experiments | undefined }) {
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


export function BacktestCard({ heads }: { heads: RegisteredModel[] }) {
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
      .query<BacktestQuery, BacktestQueryVariables>(
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

