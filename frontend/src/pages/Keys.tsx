// API keys (admins): every key (prefix, name, role, who made it when, revoked when and by whom),
// creating one (its secret shown this once, with a copy button), revoking one (confirmed first).
// `#/keys?key=<id>` (an actor of the audit log) picks that key out.

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useClient, useQuery } from 'urql';
import { API_KEYS_QUERY, CREATE_API_KEY, REVOKE_API_KEY } from '../graphql/documents';
import type { ApiKey, Role } from '../graphql/types';
import type {
  ApiKeysQuery,
  ApiKeysQueryVariables,
  CreateApiKeyMutation,
  CreateApiKeyMutationVariables,
  RevokeApiKeyMutation,
  RevokeApiKeyMutationVariables,
} from '../graphql/generated';
import { apiErrors, type ApiError } from '../graphql/errors';
import { Card, ErrorList, Spinner } from '../components/ui';
import { RoleBadge } from '../auth/Account';
import { signIn, useApiKey, useSession } from '../auth/session';
import { keyPrefix } from '../auth/storage';
import { dateTime } from '../lib/format';
import { useLastDefined } from '../lib/hooks';

const ROLES: { role: Role; may: string }[] = [
  { role: 'VIEWER', may: 'queries and subscriptions, image files' },
  { role: 'UPLOADER', may: 'also uploads images' },
  { role: 'ADMIN', may: 'also replays, the model registry, API keys, /metrics' },
];

type Created = CreateApiKeyMutation['createApiKey'];

function CreateKeyCard({ open, onCreated }: { open: boolean; onCreated: (created: Created) => void }) {
  const client = useClient();
  const [name, setName] = useState('');
  // The first key (open mode) should be an admin's: a lower one could not make any other.
  const [role, setRole] = useState<Role>(open ? 'ADMIN' : 'VIEWER');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors([]);
    const r = await client
      .mutation<CreateApiKeyMutation, CreateApiKeyMutationVariables>(CREATE_API_KEY, { name: name.trim(), role })
      .toPromise();
    setBusy(false);
    if (r.data?.createApiKey) {
      setName('');
      onCreated(r.data.createApiKey);
    } else {
      setErrors(apiErrors(r.error));
    }
  };

  return (
    <Card title="Create a key" testId="key-create-card">
      <form className="form-grid key-form" onSubmit={(e) => void submit(e)}>
        <label className="field">
          <span>Name (who or what uses it)</span>
          <input type="text" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} placeholder="e.g. ops laptop" data-testid="key-name" />
        </label>
        <label className="field">
          <span>Role</span>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)} data-testid="key-role">
            {ROLES.map((r) => (
              <option key={r.role} value={r.role}>
                {r.role.toLowerCase()} — {r.may}
              </option>
            ))}
          </select>
        </label>
        <div className="field buttons">
          <button type="submit" className="btn primary" disabled={busy || !name.trim()} data-testid="key-create">
            Create key
          </button>
          {busy && <Spinner />}
        </div>
      </form>
      <ErrorList errors={errors} testId="key-error" />
      {open && role !== 'ADMIN' && (
        <div className="notice warn small" data-testid="first-key-warning">
          This is the first key: it ends open mode, and a {role.toLowerCase()} key cannot create others. Make the first key
          an admin key (or create admin keys on the server with <code>vision keys create --role admin</code>).
        </div>
      )}
      <p className="muted small">
        The first key ends open mode: from then on every caller needs one. Only the key's SHA-256 is stored.
      </p>
    </Card>
  );
}

/** A key just created: its secret, this once. */
function NewKeyCard({ created, endedOpen, onDismiss }: { created: Created; endedOpen: boolean; onDismiss: () => void }) {
  const [signInErrors, setSignInErrors] = useState<ApiError[]>([]);
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  return (
    <Card title="New key" testId="new-key-card" className="new-key-card">
      <div className="notice warn" role="alert" data-testid="new-key-warning">
        <strong>Copy this key now: it will not be shown again.</strong> The server keeps only its hash; a lost key cannot be
        recovered, only revoked and replaced.
      </div>
      <div className="new-key-row">
        <span className="muted small">
          {created.apiKey.name} · <RoleBadge role={created.apiKey.role} />
        </span>
        <input
          type="text"
          readOnly
          className="new-key"
          value={created.key}
          onFocus={(e) => e.target.select()}
          spellCheck={false}
          aria-label="The new API key"
          data-testid="new-key"
          data-key-id={created.apiKey.id}
        />
        <button type="button" className="btn primary" onClick={() => void copy()} data-testid="copy-key">
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="btn" onClick={onDismiss} data-testid="new-key-done">
          Done
        </button>
      </div>
      {copied === 'failed' && <p className="small muted">The clipboard is not available here: select the key and copy it (Ctrl-C).</p>}
      {endedOpen && (
        <div className="notice small" data-testid="open-ended">
          This first key ended open mode: from the next request on, this dashboard needs a key too.{' '}
          <button
            type="button"
            className="btn small-btn primary"
            onClick={() => void signIn(created.key).then(setSignInErrors)}
            data-testid="new-key-signin"
          >
            Sign in with this key
          </button>
          <ErrorList errors={signInErrors} testId="new-key-signin-error" />
        </div>
      )}
    </Card>
  );
}

function KeyRow({ apiKey, mine, focused, onRevoked }: { apiKey: ApiKey; mine: boolean; focused: boolean; onRevoked: () => void }) {
  const client = useClient();
  const row = useRef<HTMLTableRowElement>(null);
  useEffect(() => {
    if (focused) row.current?.scrollIntoView({ block: 'center' });
  }, [focused]);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const revoked = apiKey.revokedAt !== null;

  const revoke = async () => {
    setBusy(true);
    setErrors([]);
    const r = await client.mutation<RevokeApiKeyMutation, RevokeApiKeyMutationVariables>(REVOKE_API_KEY, { id: apiKey.id }).toPromise();
    setBusy(false);
    setConfirming(false);
    if (r.data?.revokeApiKey) onRevoked();
    else setErrors(apiErrors(r.error));
  };

  return (
    <tr
      ref={row}
      className={`key-row${revoked ? ' revoked' : ''}${focused ? ' focused' : ''}`}
      data-testid="key-row"
      data-id={apiKey.id}
      data-prefix={apiKey.prefix}
      data-name={apiKey.name}
      data-role={apiKey.role}
      data-revoked={revoked ? 'true' : 'false'}
      data-focused={focused ? 'true' : undefined}
    >
      <td>
        <code>{apiKey.prefix}…</code>
        {mine && (
          <span className="badge you" title="The key this dashboard is signed in with">
            you
          </span>
        )}
      </td>
      <td className="key-name">{apiKey.name}</td>
      <td>
        <RoleBadge role={apiKey.role} />
      </td>
      <td className="small" title={apiKey.createdAt}>
        {dateTime(apiKey.createdAt)} <span className="muted">by {apiKey.createdBy}</span>
      </td>
      <td className="small" data-testid="key-revoked">
        {revoked ? (
          <span title={apiKey.revokedAt ?? ''}>
            <span className="badge key-revoked-badge">revoked</span> {dateTime(apiKey.revokedAt)}{' '}
            <span className="muted">by {apiKey.revokedBy}</span>
          </span>
        ) : (
          <span className="badge key-active-badge">active</span>
        )}
      </td>
      <td className="key-actions">
        {!revoked && !confirming && (
          <button type="button" className="btn small-btn danger" onClick={() => setConfirming(true)} data-testid="key-revoke">
            Revoke
          </button>
        )}
        {!revoked && confirming && (
          <span className="key-confirm" data-testid="key-confirm">
            <span className="small">
              {mine ? 'This is your own key: you will be signed out. ' : ''}It stops working at once, for good.
            </span>
            <button type="button" className="btn small-btn danger" disabled={busy} onClick={() => void revoke()} data-testid="key-revoke-confirm">
              Revoke {apiKey.name}
            </button>
            <button type="button" className="btn small-btn" disabled={busy} onClick={() => setConfirming(false)} data-testid="key-revoke-cancel">
              Cancel
            </button>
          </span>
        )}
        <ErrorList errors={errors} testId="key-revoke-error" />
      </td>
    </tr>
  );
}

/** `focus`: the id of a key to pick out (highlighted, scrolled to). */
export function KeysPage({ focus }: { focus?: string }) {
  const [{ data, error, fetching }, reexecute] = useQuery<ApiKeysQuery, ApiKeysQueryVariables>({
    query: API_KEYS_QUERY,
    requestPolicy: 'network-only',
  });
  const keys = useLastDefined(data?.apiKeys);
  const [created, setCreated] = useState<{ created: Created; endedOpen: boolean } | null>(null);
  const current = useApiKey();
  const session = useSession();
  const open = session.status === 'signedIn' && session.me.open;
  const myPrefix = current ? keyPrefix(current) : null;
  const reload = () => reexecute({ requestPolicy: 'network-only' });
  const active = keys?.filter((k) => k.revokedAt === null).length ?? 0;

  return (
    <div className="page keys-page">
      <div className="row between wrap">
        <h1>API keys</h1>
        <span className="muted" data-testid="keys-summary">
          {keys ? `${keys.length} key${keys.length === 1 ? '' : 's'} · ${active} active` : ''}
        </span>
      </div>
      {created && <NewKeyCard created={created.created} endedOpen={created.endedOpen} onDismiss={() => setCreated(null)} />}
      <CreateKeyCard
        open={open && !created?.endedOpen}
        onCreated={(c) => {
          // The first key ends open mode: asking again without one would be refused (and end
          // this session) before the key is copied.
          const endedOpen = open && !created?.endedOpen;
          setCreated({ created: c, endedOpen });
          if (!endedOpen) reload();
        }}
      />
      <Card title="Keys" testId="keys" actions={<span className="muted small">newest first</span>}>
        <ErrorList errors={apiErrors(error)} />
        {!keys && fetching && (
          <p>
            <Spinner /> loading the keys…
          </p>
        )}
        {keys && (
          <table className="table compact-table keys-table" data-testid="keys-table">
            <thead>
              <tr>
                <th>Prefix</th>
                <th>Name</th>
                <th>Role</th>
                <th>Created</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {keys.length === 0 && (
                <tr>
                  <td colSpan={6} className="muted" data-testid="keys-empty">
                    No key yet: the platform runs open (every caller is an admin). Create one above to require keys.
                  </td>
                </tr>
              )}
              {keys.map((k) => (
                <KeyRow key={k.id} apiKey={k} mine={k.prefix === myPrefix} focused={k.id === focus} onRevoked={reload} />
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
