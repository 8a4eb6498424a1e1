// The audit log (F25, admins): every mutation with its outcome, every operation the policy
// refused and every failed authentication, newest first. Filters: one actor (exact), an operation
// (a substring), one outcome code; "Older" asks for the entries before the last seq shown
// (`beforeSeq`). Nothing announces a new entry: the newest page is asked again every 5 s while
// the tab is visible (and on "Refresh"); older pages never change (the log is append-only).

import { useEffect, useMemo, useState, type MouseEvent } from 'react';
import { useQuery } from 'urql';
import { API_KEYS_QUERY, AUDIT_LOG_QUERY } from '../graphql/documents';
import type { ApiKey, AuditEntry, Role } from '../graphql/types';
import type { ApiKeysQuery, ApiKeysQueryVariables, AuditLogQuery, AuditLogQueryVariables } from '../graphql/generated';
import { apiErrors } from '../graphql/errors';
import { Card, ErrorList, Spinner } from '../components/ui';
import { RoleBadge } from '../auth/Account';
import { dateTime, shortId } from '../lib/format';
import { useDebounced, useLastDefined } from '../lib/hooks';
import { href } from '../router';
import './audit.css';

const PAGE_SIZE = 50;
const POLL_MS = 5000;
/** The outcomes offered in the filter; any other code can be typed ("other"). */
const OUTCOMES = ['OK', 'FORBIDDEN', 'UNAUTHENTICATED', 'INVALID_ARGUMENT', 'NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'INVALID_MODEL', 'INTERNAL'];
const OTHER = '__other';
const ROLES: Role[] = ['VIEWER', 'UPLOADER', 'ADMIN'];
const COLUMNS = 9;

type OutcomeKind = 'ok' | 'refused' | 'error';

/** OK; refused by the policy or at authentication; any other error. */
function outcomeKind(outcome: string): OutcomeKind {
  if (outcome === 'OK') return 'ok';
  if (outcome === 'FORBIDDEN' || outcome === 'UNAUTHENTICATED') return 'refused';
  return 'error';
}

/** The entry's role (the log keeps it in lower case) as the dashboard's `Role`, if it is one. */
function roleOf(role: string | null): Role | null {
  const upper = role?.toUpperCase();
  return ROLES.find((r) => r === upper) ?? null;
}

const stop = (e: MouseEvent) => e.stopPropagation();

function Actor({ actor, keys }: { actor: string; keys: Map<string, ApiKey> }) {
  if (actor.startsWith('key:')) {
    const id = actor.slice('key:'.length);
    const key = keys.get(id);
    return (
      <a href={href.key(id)} onClick={stop} title={`${actor}: open it on the Keys page`} data-testid="audit-actor-key" data-key-id={id}>
        {key ? <span className="audit-key-name">{key.name}</span> : 'key'} <code>{shortId(id)}…</code>
      </a>
    );
  }
  return <span className={actor === 'unauthenticated' ? 'audit-unauthenticated' : undefined}>{actor}</span>;
}

function OutcomeBadge({ outcome, detail }: { outcome: string; detail: string | null }) {
  const kind = outcomeKind(outcome);
  return (
    <span className={`badge audit-outcome outcome-${kind}`} title={detail ?? undefined} data-testid="audit-outcome" data-outcome={outcome}>
      {kind === 'refused' && <span aria-hidden="true">✕ </span>}
      {kind === 'error' && <span aria-hidden="true">! </span>}
      {outcome}
    </span>
  );
}

function AuditRow({
  entry,
  keys,
  expanded,
  onToggle,
  onOnlyActor,
}: {
  entry: AuditEntry;
  keys: Map<string, ApiKey>;
  expanded: boolean;
  onToggle: () => void;
  onOnlyActor: () => void;
}) {
  const kind = outcomeKind(entry.outcome);
  const role = roleOf(entry.role);
  return (
    <>
      <tr
        className={`audit-row clickable outcome-${kind}${expanded ? ' expanded' : ''}`}
        onClick={onToggle}
        data-testid="audit-row"
        data-seq={entry.seq}
        data-actor={entry.actor}
        data-role={entry.role ?? ''}
        data-operation={entry.operation}
        data-outcome={entry.outcome}
        data-request-id={entry.requestId}
        data-hash={entry.hash}
      >
        <td className="audit-seq">
          <button
            type="button"
            className="audit-toggle"
            aria-expanded={expanded}
            aria-label={expanded ? 'Hide the details' : 'Show the details'}
            onClick={(e) => {
              e.stopPropagation();
              onToggle();
            }}
            data-testid="audit-expand"
          >
            {expanded ? '▾' : '▸'}
          </button>
          <span data-testid="audit-seq">{entry.seq}</span>
        </td>
        <td className="small" title={entry.at} data-testid="audit-at">
          {dateTime(entry.at)}
        </td>
        <td data-testid="audit-actor">
          <Actor actor={entry.actor} keys={keys} />
        </td>
        <td data-testid="audit-role">{role ? <RoleBadge role={role} /> : entry.role ? entry.role : <span className="muted">—</span>}</td>
        <td className="small" data-testid="audit-ip">
          {entry.ip ?? <span className="muted">—</span>}
        </td>
        <td className="audit-operation" data-testid="audit-operation">
          <code>{entry.operation}</code>
        </td>
        <td>
          <OutcomeBadge outcome={entry.outcome} detail={entry.detail} />
          {entry.detail && (
            <span className="audit-has-detail" title={entry.detail} aria-label="has a detail">
              i
            </span>
          )}
        </td>
        <td>
          <code className="small" title={entry.requestId} data-testid="audit-request-id">
            {shortId(entry.requestId)}
          </code>
        </td>
        <td>
          <code className="small" title={entry.hash} data-testid="audit-hash">
            {entry.hash.slice(0, 12)}
          </code>
        </td>
      </tr>
      {expanded && (
        <tr className={`audit-detail-row outcome-${kind}`} data-testid="audit-detail" data-seq={entry.seq}>
          <td colSpan={COLUMNS}>
            <dl className="audit-detail">
              <dt>Detail</dt>
              <dd data-testid="audit-detail-text">{entry.detail ?? <span className="muted">none</span>}</dd>
              <dt>When</dt>
              <dd>
                <code>{entry.at}</code>
              </dd>
              <dt>Actor</dt>
              <dd>
                <code>{entry.actor}</code>{' '}
                <button type="button" className="btn small-btn" onClick={onOnlyActor} data-testid="audit-only-actor">
                  Only this actor
                </button>
              </dd>
              <dt>Request id</dt>
              <dd>
                <code>{entry.requestId}</code>
              </dd>
              <dt>Hash</dt>
              <dd>
                <code className="audit-full-hash">{entry.hash}</code>
              </dd>
            </dl>
          </td>
        </tr>
      )}
    </>
  );
}

export function AuditPage() {
  // The filters as typed, and as asked (once the typing stops).
  const [actorInput, setActorInput] = useState('');
  const [operationInput, setOperationInput] = useState('');
  const [outcomeChoice, setOutcomeChoice] = useState('');
  const [outcomeOther, setOutcomeOther] = useState('');
  const actor = useDebounced(actorInput.trim(), 300);
  const operation = useDebounced(operationInput.trim(), 300);
  const typedOutcome = useDebounced(outcomeOther.trim().toUpperCase(), 300);
  const outcome = outcomeChoice === OTHER ? typedOutcome : outcomeChoice;
  const filtered = Boolean(actorInput || operationInput || outcomeChoice);

  // The `beforeSeq` of each older page opened (empty: the newest page), for the filters they
  // were opened with: other filters start from the newest page again.
  const filterKey = JSON.stringify([actor, operation, outcome]);
  const [paging, setPaging] = useState<{ filterKey: string; before: number[] }>({ filterKey, before: [] });
  const before = paging.filterKey === filterKey ? paging.before : [];
  const beforeSeq = before.length ? before[before.length - 1] : null;
  const newest = beforeSeq === null;

  // One more than a page: whether there are older entries.
  const variables = useMemo<AuditLogQueryVariables>(
    () => ({ limit: PAGE_SIZE + 1, beforeSeq, actor: actor || null, operation: operation || null, outcome: outcome || null }),
    [beforeSeq, actor, operation, outcome],
  );
  const [{ data: fresh, error, fetching }, reexecute] = useQuery<AuditLogQuery, AuditLogQueryVariables>({
    query: AUDIT_LOG_QUERY,
    variables,
    requestPolicy: 'network-only',
  });
  const data = useLastDefined(fresh);
  const [{ data: keysData }] = useQuery<ApiKeysQuery, ApiKeysQueryVariables>({ query: API_KEYS_QUERY });
  const keys = useMemo(() => new Map((keysData?.apiKeys ?? []).map((k) => [k.id, k])), [keysData]);

  // Polling: the newest page only, while the tab is visible; at once when it becomes visible.
  const [auto, setAuto] = useState(true);
  useEffect(() => {
    if (!auto || !newest) return;
    const refresh = () => {
      if (document.visibilityState === 'visible') reexecute({ requestPolicy: 'network-only' });
    };
    const t = setInterval(refresh, POLL_MS);
    document.addEventListener('visibilitychange', refresh);
    return () => {
      clearInterval(t);
      document.removeEventListener('visibilitychange', refresh);
    };
  }, [auto, newest, reexecute]);

  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  const toggle = (seq: number) =>
    setExpanded((s) => {
      const next = new Set(s);
      if (!next.delete(seq)) next.add(seq);
      return next;
    });

  const all = data?.auditLog;
  const entries = all?.slice(0, PAGE_SIZE);
  const hasOlder = (all?.length ?? 0) > PAGE_SIZE;
  const first = entries?.[0];
  const last = entries?.[entries.length - 1];
  /** Another page of entries, read from its top. */
  const turnTo = (pages: number[]) => {
    setPaging({ filterKey, before: pages });
    window.scrollTo(0, 0);
  };
  const clearFilters = () => {
    setActorInput('');
    setOperationInput('');
    setOutcomeChoice('');
    setOutcomeOther('');
  };

  return (
    <div className="page audit-page">
      <div className="row between wrap">
        <h1>Audit log</h1>
        <span className="muted" data-testid="audit-summary">
          {entries && entries.length > 0 && first && last
            ? `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} · seq ${first.seq}–${last.seq}`
            : ''}
        </span>
      </div>
      <p className="muted small audit-intro">
        Every mutation with its outcome, every operation refused by the policy and every failed authentication, newest
        first. Each entry is chained to the previous one by its hash: <code>vision audit verify</code> checks the chain on
        the server.
      </p>
      <Card>
        <div className="filters audit-filters">
          <label className="field">
            <span>Actor (exact)</span>
            <input
              type="text"
              list="audit-actors"
              placeholder="any"
              value={actorInput}
              onChange={(e) => setActorInput(e.target.value)}
              spellCheck={false}
              data-testid="audit-filter-actor"
            />
            <datalist id="audit-actors">
              <option value="anonymous" />
              <option value="unauthenticated" />
              {[...keys.values()].map((k) => (
                <option key={k.id} value={`key:${k.id}`} label={`${k.name} (${k.role.toLowerCase()})`} />
              ))}
            </datalist>
          </label>
          <label className="field">
            <span>Operation contains</span>
            <input
              type="text"
              placeholder="e.g. uploadImage"
              value={operationInput}
              onChange={(e) => setOperationInput(e.target.value)}
              spellCheck={false}
              data-testid="audit-filter-operation"
            />
          </label>
          <label className="field">
            <span>Outcome</span>
            <select value={outcomeChoice} onChange={(e) => setOutcomeChoice(e.target.value)} data-testid="audit-filter-outcome">
              <option value="">any</option>
              {OUTCOMES.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
              <option value={OTHER}>other code…</option>
            </select>
          </label>
          {outcomeChoice === OTHER && (
            <label className="field">
              <span>Outcome code</span>
              <input
                type="text"
                placeholder="e.g. CORRUPT_IMAGE"
                value={outcomeOther}
                onChange={(e) => setOutcomeOther(e.target.value)}
                spellCheck={false}
                data-testid="audit-filter-outcome-other"
              />
            </label>
          )}
          <div className="field buttons">
            {filtered && (
              <button type="button" className="btn" onClick={clearFilters} data-testid="audit-clear-filters">
                Clear filters
              </button>
            )}
          </div>
        </div>
      </Card>
      <ErrorList errors={apiErrors(error)} />
      {!data && fetching && (
        <p>
          <Spinner /> loading the audit log…
        </p>
      )}
      {entries && (
        <Card
          title="Entries"
          testId="audit"
          actions={
            <span className="audit-actions">
              {fetching && <Spinner />}
              <label className="small muted audit-auto" title="Ask again every 5 s while this tab is visible (the newest page only)">
                <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} data-testid="audit-auto" /> every{' '}
                {POLL_MS / 1000} s
              </label>
              <button
                type="button"
                className="btn small-btn"
                onClick={() => reexecute({ requestPolicy: 'network-only' })}
                data-testid="audit-refresh"
              >
                Refresh
              </button>
            </span>
          }
        >
          <table
            className="table compact-table audit-table"
            data-testid="audit-table"
            data-fetching={fetching ? 'true' : 'false'}
            data-before-seq={beforeSeq ?? ''}
          >
            <thead>
              <tr>
                <th>Seq</th>
                <th>Time</th>
                <th>Actor</th>
                <th>Role</th>
                <th>IP</th>
                <th>Operation</th>
                <th>Outcome</th>
                <th>Request</th>
                <th>Hash</th>
              </tr>
            </thead>
            <tbody>
              {entries.length === 0 && (
                <tr>
                  <td colSpan={COLUMNS} className="muted" data-testid="audit-empty">
                    {filtered ? 'No entry matches.' : 'Nothing recorded yet.'}
                  </td>
                </tr>
              )}
              {entries.map((entry) => (
                <AuditRow
                  key={entry.seq}
                  entry={entry}
                  keys={keys}
                  expanded={expanded.has(entry.seq)}
                  onToggle={() => toggle(entry.seq)}
                  onOnlyActor={() => setActorInput(entry.actor)}
                />
              ))}
            </tbody>
          </table>
          <div className="pager">
            <span className="audit-pager-left">
              <button
                type="button"
                className="btn"
                disabled={newest}
                onClick={() => turnTo(before.slice(0, -1))}
                data-testid="audit-newer"
              >
                ← Newer
              </button>
              {before.length > 1 && (
                <button type="button" className="btn" onClick={() => turnTo([])} data-testid="audit-newest">
                  Newest
                </button>
              )}
            </span>
            <span className="muted small" data-testid="audit-page">
              {newest ? 'newest entries' : `before seq ${beforeSeq}`}
            </span>
            <button
              type="button"
              className="btn"
              disabled={!hasOlder || !last}
              onClick={() => last && turnTo([...before, last.seq])}
              data-testid="audit-older"
            >
              Older →
            </button>
          </div>
        </Card>
      )}
    </div>
  );
}
