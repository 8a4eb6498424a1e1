// Who is signed in, in the header: the role, the key's prefix (or the actor), a sign-out
// button; in open mode a notice that no key is needed. And the card a page shows to a role that
// may not use it.

import type { ReactNode } from 'react';
import type { Role } from '../graphql/types';
import { Card } from '../components/ui';
import { href } from '../router';
import { signOut, useSession } from './session';
import { keyPrefix } from './storage';

export function RoleBadge({ role }: { role: Role }) {
  return (
    <span className={`badge role role-${role.toLowerCase()}`} data-testid="role-badge" data-role={role}>
      {role.toLowerCase()}
    </span>
  );
}

export function AccountBadge() {
  const session = useSession();
  if (session.status !== 'signedIn') return null;
  const { me, key } = session;
  return (
    <div className="account" data-testid="account" data-role={me.role} data-open={me.open ? 'true' : 'false'} data-actor={me.actor}>
      <span className="whoami" data-testid="whoami" title={`signed in as ${me.actor}`}>
        <RoleBadge role={me.role} />
        {key ? (
          <code className="key-prefix" data-testid="whoami-key">
            {keyPrefix(key)}…
          </code>
        ) : (
          <span className="actor">{me.actor}</span>
        )}
      </span>
      {key && (
        <button type="button" className="btn small-btn account-signout" onClick={signOut} data-testid="sign-out">
          Sign out
        </button>
      )}
    </div>
  );
}

/** The strip under the header while the platform runs open (no key in force). */
export function OpenNotice() {
  const session = useSession();
  if (session.status !== 'signedIn' || !session.me.open) return null;
  return (
    <div className="open-notice" data-testid="open-notice" role="note">
      open: no API key required (development)
      <span className="muted"> · every caller is an admin until the first key is created (Keys page)</span>
    </div>
  );
}

const ROLE_WORDS: Record<Role, string> = { VIEWER: 'a viewer', UPLOADER: 'an uploader', ADMIN: 'an admin' };

/** What a page shows instead of itself to a role below `needs`. */
export function NeedsRole({ needs, what, children }: { needs: Role; what: string; children?: ReactNode }) {
  const session = useSession();
  const role = session.status === 'signedIn' ? session.me.role : null;
  return (
    <Card testId="needs-role" className="needs-role">
      <h2>Not for your role</h2>
      <p data-testid="needs-role-message" data-needs={needs}>
        {what} needs {ROLE_WORDS[needs]} key (or above){role ? <>; you are signed in as {ROLE_WORDS[role]}</> : null}.{' '}
        <a href={href.home}>Back to the overview</a>.
      </p>
      {children}
    </Card>
  );
}
