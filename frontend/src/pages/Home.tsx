import { useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { HOME_QUERY, STATS_UPDATED } from '../graphql/documents';
import type { Health, ModelInfo, ModelStats } from '../graphql/types';
import type { HomeQuery, HomeQueryVariables, StatsUpdatedSubscription, StatsUpdatedSubscriptionVariables } from '../graphql/generated';
import { apiErrors } from '../graphql/errors';
import { Card, ErrorList, Spinner } from '../components/ui';
import { useSubscriptionEvents } from '../lib/hooks';
import { headsOf, useBundle } from '../lib/bundle';
import { counted, ms, num, pct } from '../lib/format';
import { href } from '../router';
import { useCan } from '../auth/session';

function HealthCard({ health }: { health: Health }) {
  return (
    <Card
      title="Health"
      testId="health"
      actions={
        <span className={`badge health-${health.status.toLowerCase()}`} data-testid="health-status">
          {health.status}
          {health.ready ? ' · ready' : ' · not ready'}
        </span>
      }
    >
      <table className="table">
        <thead>
          <tr>
            <th>Component</th>
            <th>Kind</th>
            <th>Status</th>
            <th className="num">Latency</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {health.components.map((c) => (
            <tr key={c.name} data-testid="health-component">
              <td>
                <strong>{c.name}</strong>
              </td>
              <td>
                <code>{c.kind}</code>
              </td>
              <td>
                <span className={`badge health-${c.status.toLowerCase()}`}>{c.status}</span>
              </td>
              <td className="num">{ms(c.latencyMs)}</td>
              <td className="muted small">{c.detail ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

/** One head: `versions` are its entries in `models` (one, or several while versions coexist). */
function HeadCard({ name, versions, stats }: { name: string; versions: ModelInfo[]; stats: ModelStats | undefined }) {
  const { headColor } = useBundle();
  const model = versions[0];
  return (
    <div className="head-card" data-testid={`head-${name}`} style={{ borderTopColor: headColor(name) }}>
      <div className="head-title">
        <h3>{name}</h3>
        <span className="muted small">
          {versions.map((v) => v.version).join(', ')} · {model.runtime} · {model.descriptorDim}-d input
        </span>
      </div>
      <div className="head-figures">
        <div>
          <span className="k">Predictions</span>
          <span className="v" data-testid="head-count">
            {num(stats?.count ?? 0)}
          </span>
        </div>
        <div>
          <span className="k">p50 latency</span>
          <span className="v">{ms(stats?.latencyP50Ms)}</span>
        </div>
        <div>
          <span className="k">p95 latency</span>
          <span className="v">{ms(stats?.latencyP95Ms)}</span>
        </div>
        <div>
          <span className="k">Accuracy</span>
          <span className="v" title={stats ? `${stats.correct} / ${stats.labeled} labeled` : ''}>
            {pct(stats?.accuracy)}
          </span>
        </div>
        <div>
          <span className="k">Mean confidence</span>
          <span className="v">{stats && stats.count > 0 ? pct(stats.meanConfidence) : '—'}</span>
        </div>
        <div>
          <span className="k">Labeled</span>
          <span className="v">{num(stats?.labeled ?? 0)}</span>
        </div>
      </div>
    </div>
  );
}

/** "fast, balanced and accurate", each name in its head's color. */
function HeadNames({ heads }: { heads: string[] }) {
  const { headColor } = useBundle();
  return (
    <>
      {heads.map((h, i) => (
        <span key={h}>
          {i === 0 ? '' : i === heads.length - 1 ? ' and ' : ', '}
          <span style={{ color: headColor(h) }}>{h}</span>
        </span>
      ))}
    </>
  );
}

/** Cards side by side: as many columns as heads, from two to four. */
function gridClass(n: number): string {
  return n <= 2 ? 'grid grid-2' : n === 4 ? 'grid grid-4' : 'grid grid-3';
}

export function HomePage() {
  const bundle = useBundle();
  const canUpload = useCan('UPLOADER');
  const canReplay = useCan('ADMIN');
  const [{ data, error, fetching }, reexecute] = useQuery<HomeQuery, HomeQueryVariables>({ query: HOME_QUERY, requestPolicy: 'network-only' });
  const [liveStats, setLiveStats] = useState<ModelStats[] | null>(null);

  useSubscriptionEvents<StatsUpdatedSubscription, StatsUpdatedSubscriptionVariables>(STATS_UPDATED, { intervalMs: 1000 }, (d) => setLiveStats(d.statsUpdated));

  // Health has no subscription: refresh it every 10 s.
  useEffect(() => {
    const t = setInterval(() => reexecute({ requestPolicy: 'network-only' }), 10_000);
    return () => clearInterval(t);
  }, [reexecute]);

  const stats = liveStats ?? data?.modelStats ?? [];
  const extractor = data?.models.find((m) => m.kind === 'EXTRACTOR');
  // The models' own order is the bundle's display order; a head may be listed once per version.
  const heads = headsOf(data?.models ?? []);
  const headCount = bundle.status === 'ready' ? bundle.heads.length : null;

  return (
    <div className="page">
      <section className="hero">
        <div>
          <h1>Real-time multi-model image classification</h1>
          <p className="lead">
            Images arrive from uploads, a webcam or a CIFAR-10 replay. Each goes <strong>once</strong> through a
            pretrained CNN backbone that turns it into a compact descriptor, then through{' '}
            <strong>
              {counted(headCount, 'classifier head')}
              {headCount === 1 ? '' : ' in parallel'}
            </strong>
            {bundle.heads.length > 0 && (
              <>
                {' '}
                — <HeadNames heads={bundle.heads} />
              </>
            )}
            . Every prediction is timed and recorded, so you can watch, live, which model is faster and which is more
            accurate.
          </p>
          <div className="hero-actions">
            {canUpload && (
              <a className="btn primary" href={href.upload} data-testid="hero-upload">
                Upload images
              </a>
            )}
            <a className={canUpload ? 'btn' : 'btn primary'} href={href.live}>
              {canReplay ? 'Start a live replay' : 'Watch live'}
            </a>
            <a className="btn" href={href.stats}>
              See the statistics
            </a>
          </div>
        </div>
        <div className="pipeline" aria-label="pipeline">
          <div className="stage">image</div>
          <div className="arrow">→</div>
          <div className="stage">
            backbone
            <small>{extractor ? `${extractor.name} · ${extractor.inputSize ?? '?'} px → ${extractor.descriptorDim}-d` : 'one pass'}</small>
          </div>
          <div className="arrow">→</div>
          <div className="stage-group">
            {bundle.heads.map((h) => (
              <div key={h} className="stage head" style={{ borderColor: bundle.headColor(h) }}>
                {h}
              </div>
            ))}
          </div>
        </div>
      </section>

      <ErrorList errors={apiErrors(error)} />
      {fetching && !data && (
        <p>
          <Spinner /> loading…
        </p>
      )}

      {data && (
        <>
          <Card title="Models — live figures" testId="models" actions={<span className="muted small">updated by the statsUpdated subscription</span>}>
            <div className={gridClass(heads.length)}>
              {heads.map((h) => (
                <HeadCard
                  key={h}
                  name={h}
                  versions={data.models.filter((m) => m.kind === 'CLASSIFIER' && m.name === h)}
                  stats={stats.find((s) => s.model === h)}
                />
              ))}
            </div>
            <table className="table models-table">
              <thead>
                <tr>
                  <th>Model</th>
                  <th>Kind</th>
                  <th>Version</th>
                  <th className="num">Descriptor dim</th>
                  <th className="num">Input size</th>
                  <th>Runtime</th>
                </tr>
              </thead>
              <tbody>
                {data.models.map((m) => (
                  <tr key={`${m.kind}/${m.name}/${m.version}`} data-testid="model-row">
                    <td>
                      <strong>{m.name}</strong>
                    </td>
                    <td>{m.kind.toLowerCase()}</td>
                    <td>
                      <code>{m.version}</code>
                    </td>
                    <td className="num">{m.descriptorDim}</td>
                    <td className="num">{m.inputSize ? `${m.inputSize} px` : '—'}</td>
                    <td>
                      <code>{m.runtime}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
          <HealthCard health={data.health} />
        </>
      )}
    </div>
  );
}
