import { useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { IMAGE_FAILED, IMAGES_QUERY, STATS_UPDATED } from '../graphql/documents';
import type { ImageFilter, ImageStatus } from '../graphql/types';
import type {
  ImageFailedSubscription,
  ImageFailedSubscriptionVariables,
  ImagesQuery,
  ImagesQueryVariables,
  StatsUpdatedSubscription,
  StatsUpdatedSubscriptionVariables,
} from '../graphql/generated';
import { apiErrors } from '../graphql/errors';
import { Card, ClassChip, ErrorList, Spinner, StatusBadge, Thumb } from '../components/ui';
import { useBundle } from '../lib/bundle';
import { dateTime, pct, shortId } from '../lib/format';
import { useLastDefined, useSubscriptionEvents, useThrottle } from '../lib/hooks';
import { href, navigate } from '../router';

const PAGE_SIZE = 20;
const SOURCES = ['upload', 'webcam', 'cifar10'];
const STATUSES: ImageStatus[] = ['PENDING', 'EXTRACTED', 'COMPLETED', 'FAILED'];

export function HistoryPage() {
  const bundle = useBundle();
  const [source, setSource] = useState('');
  const [status, setStatus] = useState('');
  const [label, setLabel] = useState('');
  // Cursors of the pages before the current one (null = first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];

  const filter = useMemo<ImageFilter | null>(() => {
    const f: ImageFilter = {};
    if (source) f.source = source;
    if (status) f.status = status as ImageStatus;
    if (label) f.label = label;
    return Object.keys(f).length ? f : null;
  }, [source, status, label]);

  const [{ data: fresh, error, fetching }, reexecute] = useQuery<ImagesQuery, ImagesQueryVariables>({
    query: IMAGES_QUERY,
    variables: { first: PAGE_SIZE, after, filter },
    requestPolicy: 'network-only',
  });
  const data = useLastDefined(fresh);

  // New images and status changes: `statsUpdated` fires (at most once a second) whenever
  // predictions were recorded, `imageFailed` when one cannot be processed; either refreshes the
  // page (throttled). There is no "image uploaded" subscription, so a new image shows up once
  // the heads answer it.
  const refresh = useThrottle(() => reexecute({ requestPolicy: 'network-only' }), 1500);
  useSubscriptionEvents<StatsUpdatedSubscription, StatsUpdatedSubscriptionVariables>(STATS_UPDATED, { intervalMs: 1000 }, refresh);
  useSubscriptionEvents<ImageFailedSubscription, ImageFailedSubscriptionVariables>(IMAGE_FAILED, {}, refresh);

  const resetPaging = () => setCursors([null]);
  const conn = data?.images;
  const page = cursors.length;
  const pages = conn ? Math.max(1, Math.ceil(conn.totalCount / PAGE_SIZE)) : 1;

  return (
    <div className="page">
      <div className="row between wrap">
        <h1>History</h1>
        <span className="muted" data-testid="history-total">
          {conn ? `${conn.totalCount} image${conn.totalCount === 1 ? '' : 's'}` : ''}
        </span>
      </div>
      <Card>
        <div className="filters">
          <label className="field">
            <span>Source</span>
            <input
              type="text"
              list="history-sources"
              placeholder="any"
              value={source}
              onChange={(e) => {
                setSource(e.target.value.trim());
                resetPaging();
              }}
              data-testid="filter-source"
            />
            <datalist id="history-sources">
              {SOURCES.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          </label>
          <label className="field">
            <span>Status</span>
            <select
              value={status}
              onChange={(e) => {
                setStatus(e.target.value);
                resetPaging();
              }}
              data-testid="filter-status"
            >
              <option value="">any</option>
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s.toLowerCase()}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Label</span>
            <select
              value={label}
              onChange={(e) => {
                setLabel(e.target.value);
                resetPaging();
              }}
              data-testid="filter-label"
              data-state={bundle.status}
            >
              <option value="">any</option>
              {bundle.classes.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </label>
          <div className="field buttons">
            {(source || status || label) && (
              <button
                className="btn"
                onClick={() => {
                  setSource('');
                  setStatus('');
                  setLabel('');
                  resetPaging();
                }}
              >
                Clear filters
              </button>
            )}
          </div>
        </div>
      </Card>
      <ErrorList errors={apiErrors(error)} />
      {!data && fetching && (
        <p>
          <Spinner /> loading…
        </p>
      )}
      {conn && (
        <Card>
          <table className="table history-table" data-testid="history-table">
            <thead>
              <tr>
                <th>Image</th>
                <th>Id</th>
                <th>Uploaded</th>
                <th>Source</th>
                <th>Label</th>
                <th>Status</th>
                <th>Consensus</th>
                <th className="num">Agreement</th>
              </tr>
            </thead>
            <tbody>
              {conn.edges.map(({ node }) => (
                <tr
                  key={node.id}
                  className="clickable"
                  data-testid="history-row"
                  data-image-id={node.id}
                  onClick={() => navigate(href.image(node.id))}
                >
                  <td>
                    <Thumb id={node.id} className="history-thumb" />
                  </td>
                  <td>
                    <a href={href.image(node.id)} onClick={(e) => e.stopPropagation()}>
                      <code>{shortId(node.id)}</code>
                    </a>
                  </td>
                  <td className="muted small">{dateTime(node.createdAt)}</td>
                  <td>{node.source}</td>
                  <td>{node.label ?? <span className="muted">—</span>}</td>
                  <td>
                    <StatusBadge status={node.status} />
                  </td>
                  <td>
                    {node.comparison ? (
                      node.comparison.consensusClass ? (
                        <>
                          <ClassChip cls={node.comparison.consensusClass} />
                          {node.label && (
                            <span className={node.comparison.consensusClass === node.label ? 'verdict ok' : 'verdict bad'}>
                              {node.comparison.consensusClass === node.label ? '✓' : '✗'}
                            </span>
                          )}
                        </>
                      ) : (
                        <em className="muted">tie</em>
                      )
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="num">{node.comparison ? pct(node.comparison.agreement, 0) : '—'}</td>
                </tr>
              ))}
              {conn.edges.length === 0 && (
                <tr>
                  <td colSpan={8} className="muted" data-testid="history-empty">
                    No image matches.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <div className="pager">
            <button className="btn" disabled={page <= 1} onClick={() => setCursors((c) => c.slice(0, -1))} data-testid="page-prev">
              ← Newer
            </button>
            <span className="muted small" data-testid="page-number">
              page {page} of {pages}
            </span>
            <button
              className="btn"
              disabled={!conn.pageInfo.hasNextPage || !conn.pageInfo.endCursor}
              onClick={() => setCursors((c) => [...c, conn.pageInfo.endCursor])}
              data-testid="page-next"
            >
              Older →
            </button>
          </div>
        </Card>
      )}
    </div>
  );
}
