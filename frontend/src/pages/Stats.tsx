import { useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { STATS_QUERY, STATS_UPDATED } from '../graphql/documents';
import type { StatsQuery, StatsQueryVariables, StatsUpdatedSubscription, StatsUpdatedSubscriptionVariables } from '../graphql/generated';
import { apiErrors } from '../graphql/errors';
import { Card, ClassChip, ErrorList, Spinner, Stat } from '../components/ui';
import { AccuracyChart, ClassPie, ConfusionHeatmap, LatencyChart } from '../components/charts';
import { useBundle } from '../lib/bundle';
import { ms, num, pct, shortId, time } from '../lib/format';
import { useLastDefined, useSubscriptionEvents, useThrottle } from '../lib/hooks';
import { href } from '../router';

const BUCKETS = [
  { label: '5 s', s: 5 },
  { label: '10 s', s: 10 },
  { label: '1 min', s: 60 },
  { label: '5 min', s: 300 },
  { label: '1 h', s: 3600 },
];

export function StatsPage() {
  const { heads, byHead, headColor } = useBundle();
  // The confusion matrix and per-class figures are per head: the bundle's first head until one is picked.
  const [picked, setModel] = useState<string | null>(null);
  const model = picked ?? heads[0] ?? null;
  const [bucketSeconds, setBucketSeconds] = useState(10);
  const windowSeconds = 60;
  const [{ data: fresh, error, fetching: querying }, reexecute] = useQuery<StatsQuery, StatsQueryVariables>({
    query: STATS_QUERY,
    variables: { model, bucketSeconds, windowSeconds },
    requestPolicy: 'network-only',
    pause: model === null,
  });
  const fetching = querying || model === null;
  // Keep showing the previous figures while new ones load (no flicker on model/bucket change).
  const data = useLastDefined(fresh);
  const [updates, setUpdates] = useState(0);

  // statsUpdated fires whenever predictions were recorded: re-run everything, at most every 1.5 s.
  const refresh = useThrottle(() => {
    if (model !== null) reexecute({ requestPolicy: 'network-only' });
  }, 1500);
  useSubscriptionEvents<StatsUpdatedSubscription, StatsUpdatedSubscriptionVariables>(STATS_UPDATED, { intervalMs: 1000 }, () => {
    setUpdates((u) => u + 1);
    refresh();
  });
  // Throughput is a moving window: keep it moving even when nothing new arrives.
  useEffect(() => {
    if (model === null) return;
    const t = setInterval(() => reexecute({ requestPolicy: 'network-only' }), 15_000);
    return () => clearInterval(t);
  }, [reexecute, model]);

  const stats = byHead(data?.modelStats ?? [], (s) => s.model);
  // The bundle's heads, then any other model that has recorded predictions.
  const models = [...new Set([...heads, ...stats.map((s) => s.model)])];

  return (
    <div className="page" data-testid="stats" data-updates={updates}>
      <div className="row between wrap">
        <h1>Statistics</h1>
        <div className="row gap-s muted small">
          {fetching && <Spinner />}
          <span>live · refreshed on every statsUpdated event</span>
        </div>
      </div>
      <ErrorList errors={apiErrors(error)} />
      {!data && fetching && (
        <p>
          <Spinner /> loading…
        </p>
      )}
      {data && (
        <>
          <div className="grid grid-4 summary" data-testid="throughput">
            <Stat label={`Images / s (last ${data.throughput.windowSeconds} s)`} value={data.throughput.imagesPerSecond.toFixed(2)} />
            <Stat label="Predictions / s" value={data.throughput.predictionsPerSecond.toFixed(2)} />
            <Stat label={`Images completed (${data.throughput.windowSeconds} s)`} value={<span data-testid="throughput-completed">{num(data.throughput.imagesCompleted)}</span>} />
            <Stat label="Predictions (all time)" value={<span data-testid="total-predictions">{num(stats.reduce((a, s) => a + s.count, 0))}</span>} />
          </div>

          <Card title="Per model" testId="model-stats">
            <table className="table">
              <thead>
                <tr>
                  <th>Model</th>
                  <th className="num">Predictions</th>
                  <th className="num">p50</th>
                  <th className="num">p95</th>
                  <th className="num">p99</th>
                  <th className="num">Mean</th>
                  <th className="num">Mean confidence</th>
                  <th className="num">Labeled</th>
                  <th className="num">Accuracy</th>
                </tr>
              </thead>
              <tbody>
                {stats.map((s) => (
                  <tr key={s.model} data-testid="model-stats-row" data-model={s.model}>
                    <td>
                      <span className="model-tag" style={{ background: headColor(s.model) }}>
                        {s.model}
                      </span>{' '}
                      <span className="muted small">{s.modelVersions.join(', ')}</span>
                    </td>
                    <td className="num">{num(s.count)}</td>
                    <td className="num">{ms(s.latencyP50Ms)}</td>
                    <td className="num">{ms(s.latencyP95Ms)}</td>
                    <td className="num">{ms(s.latencyP99Ms)}</td>
                    <td className="num">{ms(s.meanLatencyMs)}</td>
                    <td className="num">{s.count ? pct(s.meanConfidence) : '—'}</td>
                    <td className="num">{num(s.labeled)}</td>
                    <td className="num">
                      <strong>{pct(s.accuracy)}</strong>
                    </td>
                  </tr>
                ))}
                {stats.length === 0 && (
                  <tr>
                    <td colSpan={9} className="muted">
                      No predictions yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </Card>

          <div className="grid grid-2">
            <Card title="Inference time per model" testId="latency-card">
              <LatencyChart stats={stats} />
            </Card>
            <Card
              title="Accuracy over time"
              testId="accuracy-card"
              actions={
                <select value={bucketSeconds} onChange={(e) => setBucketSeconds(Number(e.target.value))} data-testid="bucket-select" aria-label="bucket">
                  {BUCKETS.map((b) => (
                    <option key={b.s} value={b.s}>
                      buckets of {b.label}
                    </option>
                  ))}
                </select>
              }
            >
              <AccuracyChart buckets={data.timeSeries} />
            </Card>
            <Card title="Class distribution (all models)" testId="classes-card">
              <ClassPie counts={data.classDistribution} />
            </Card>
            <Card
              title="Confusion matrix"
              testId="confusion-card"
              actions={
                <div className="segmented" role="tablist" data-testid="model-select">
                  {models.map((m) => (
                    <button key={m} className={m === model ? 'active' : ''} onClick={() => setModel(m)} data-testid={`model-select-${m}`}>
                      {m}
                    </button>
                  ))}
                </div>
              }
            >
              <ConfusionHeatmap matrix={data.confusionMatrix} />
            </Card>
          </div>

          <Card title={`Per-class precision, recall and F1 — ${model}`} testId="class-metrics">
            <table className="table">
              <thead>
                <tr>
                  <th>Class</th>
                  <th className="num">Precision</th>
                  <th className="num">Recall</th>
                  <th className="num">F1</th>
                  <th className="num">Support</th>
                  <th className="num">Predicted</th>
                </tr>
              </thead>
              <tbody>
                {data.classMetrics.map((c) => (
                  <tr key={c.class} data-testid="class-metrics-row">
                    <td>
                      <ClassChip cls={c.class} />
                    </td>
                    <td className="num">{pct(c.precision)}</td>
                    <td className="num">{pct(c.recall)}</td>
                    <td className="num">
                      <strong>{pct(c.f1)}</strong>
                    </td>
                    <td className="num">{num(c.support)}</td>
                    <td className="num">{num(c.predicted)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>

          <Card title="Last 50 predictions" testId="recent-predictions">
            <table className="table compact-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Image</th>
                  <th>Source</th>
                  <th>Model</th>
                  <th>Predicted</th>
                  <th>Label</th>
                  <th className="num">Confidence</th>
                  <th className="num">Inference</th>
                </tr>
              </thead>
              <tbody>
                {data.recentPredictions.map((p) => (
                  <tr key={p.id} data-testid="recent-row">
                    <td className="muted">{time(p.createdAt)}</td>
                    <td>
                      <a href={href.image(p.imageId)}>
                        <code>{shortId(p.imageId)}</code>
                      </a>
                    </td>
                    <td>{p.image?.source ?? '—'}</td>
                    <td>
                      <span className="model-tag" style={{ background: headColor(p.model) }}>
                        {p.model}
                      </span>
                    </td>
                    <td>
                      <ClassChip cls={p.predictedClass} />
                      {p.correct !== null && <span className={p.correct ? 'verdict ok' : 'verdict bad'}>{p.correct ? '✓' : '✗'}</span>}
                    </td>
                    <td>{p.image?.label ?? <span className="muted">—</span>}</td>
                    <td className="num">{pct(p.confidence)}</td>
                    <td className="num">{ms(p.inferenceMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        </>
      )}
    </div>
  );
}
