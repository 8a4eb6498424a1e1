// What the dashboard shows before a session: while `me` is asked, when the server cannot be
// reached, and the sign-in screen (paste an API key).

import { useState, type FormEvent, type ReactNode } from 'react';
import { Card, ErrorList, Spinner } from '../components/ui';
import type { ApiError } from '../graphql/errors';
import { href } from '../router';
import { signIn, type Session } from './session';

function Frame({ children, testId }: { children: ReactNode; testId: string }) {
  return (
    <>
      <header className="topbar">
        <div className="topbar-inner">
          <a className="brand" href={href.home}>
            <span className="brand-logo" aria-hidden="true" />
            Vision
          </a>
        </div>
      </header>
      <main className="container session-page" data-testid={testId}>
        {children}
      </main>
    </>
  );
}

export function SignInScreen({ notice }: { notice: string | null }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<ApiError[]>([]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setErrors([]);
    const refused = await signIn(key);
    // Signed in: this screen is gone. Refused: say why, keep the key to correct it.
    setBusy(false);
    setErrors(refused);
  };

  return (
    <Frame testId="signin">
      <Card title="Sign in" className="signin-card">
        {notice && errors.length === 0 && (
          <div className="notice warn signin-notice" data-testid="signin-notice" role="status">
            {notice}
          </div>
        )}
        <p>
          This server requires an API key: paste yours. It is kept in this browser (local storage) and sent with every
          request as <code>Authorization: Bearer &lt;key&gt;</code> until you sign out.
        </p>
        <form className="signin-form" onSubmit={(e) => void submit(e)}>
          <label className="field">
            <span>API key</span>
            <input
              type="password"
              value={key}
              onChange={(e) => setKey(e.target.value)}
              placeholder="vsk_…"
              autoComplete="off"
              spellCheck={false}
              autoFocus
              data-testid="signin-key"
            />
          </label>
          <button type="submit" className="btn primary" disabled={busy || !key.trim()} data-testid="signin-submit">
            {busy ? <Spinner /> : null} Sign in
          </button>
        </form>
        <ErrorList errors={errors} testId="signin-error" />
        <p className="muted small">
          An admin creates keys on the dashboard's Keys page, or on the server with{' '}
          <code>vision keys create --role viewer --name &lt;you&gt;</code> (roles: viewer, uploader, admin).
        </p>
      </Card>
    </Frame>
  );
}

/** Every state of the session but signed in. */
export function SessionScreen({ session }: { session: Exclude<Session, { status: 'signedIn' }> }) {
  switch (session.status) {
    case 'checking':
      return (
        <Frame testId="session-checking">
          <p>
            <Spinner /> connecting…
          </p>
        </Frame>
      );
    case 'unreachable':
      return (
        <Frame testId="session-unreachable">
          <Card title="The server cannot be reached">
            <p className="muted">Asking again…</p>
            <ErrorList errors={session.errors} />
          </Card>
        </Frame>
      );
    case 'signedOut':
      return <SignInScreen notice={session.notice} />;
  }
}
