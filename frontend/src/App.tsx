import { useEffect, useState } from 'react';
import { href, useRoute, type Route } from './router';
import { onSocketState, type SocketState } from './graphql/client';
import { ErrorList } from './components/ui';
import { AccountBadge, NeedsRole, OpenNotice } from './auth/Account';
import { roleAtLeast, useSession } from './auth/session';
import type { Role } from './graphql/types';
import { useBundle } from './lib/bundle';
import { counted } from './lib/format';
import { HomePage } from './pages/Home';
import { UploadPage } from './pages/Upload';
import { ResultPage } from './pages/Result';
import { LivePage } from './pages/Live';
import { StatsPage } from './pages/Stats';
import { HistoryPage } from './pages/History';
import { ModelsPage } from './pages/Models';
import { KeysPage } from './pages/Keys';
import { AuditPage } from './pages/Audit';

/** The pages, each shown in the menu to the roles that may use it (`needs`). */
const NAV: { page: Route['page']; label: string; href: string; needs?: Role }[] = [
  { page: 'home', label: 'Overview', href: href.home },
  { page: 'upload', label: 'Upload', href: href.upload, needs: 'UPLOADER' },
  { page: 'live', label: 'Live', href: href.live },
  { page: 'stats', label: 'Statistics', href: href.stats },
  { page: 'history', label: 'History', href: href.history },
  { page: 'models', label: 'Models', href: href.models },
  { page: 'keys', label: 'Keys', href: href.keys, needs: 'ADMIN' },
  { page: 'audit', label: 'Audit', href: href.audit, needs: 'ADMIN' },
];

function SocketBadge() {
  const [state, setState] = useState<SocketState>('connecting');
  useEffect(() => onSocketState(setState), []);
  const label = state === 'connected' ? 'live' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
  return (
    <span className={`socket socket-${state}`} data-testid="socket-state" data-state={state} title="Subscription WebSocket">
      <span className="dot" /> {label}
    </span>
  );
}

export function App() {
  const route = useRoute();
  const bundle = useBundle();
  const session = useSession();
  const role = session.status === 'signedIn' ? session.me.role : null;
  const may = (needs: Role | undefined) => !needs || roleAtLeast(role, needs);
  // The (narrow screen) menu is open on the route it was opened on: a navigation closes it.
  const [menuOpenOn, setMenuOpenOn] = useState<Route | null>(null);
  const menuOpen = menuOpenOn === route;

  let page;
  switch (route.page) {
    case 'home':
      page = <HomePage />;
      break;
    case 'upload':
      page = may('UPLOADER') ? <UploadPage /> : <NeedsRole needs="UPLOADER" what="Uploading images" />;
      break;
    case 'result':
      page = <ResultPage key={route.id} id={route.id} />;
      break;
    case 'live':
      page = <LivePage />;
      break;
    case 'stats':
      page = <StatsPage />;
      break;
    case 'history':
      page = <HistoryPage />;
      break;
    case 'models':
      page = <ModelsPage />;
      break;
    case 'keys':
      page = may('ADMIN') ? <KeysPage focus={route.focus} /> : <NeedsRole needs="ADMIN" what="Managing API keys" />;
      break;
    case 'audit':
      page = may('ADMIN') ? <AuditPage /> : <NeedsRole needs="ADMIN" what="Reading the audit log" />;
      break;
    default:
      page = (
        <div className="card" data-testid="not-found">
          <h2>Page not found</h2>
          <p>
            Nothing at <code>{route.path}</code>. <a href={href.home}>Back to the overview</a>.
          </p>
        </div>
      );
  }

  const active = route.page === 'result' ? 'history' : route.page;
  return (
    <>
      <header className="topbar">
        <div className="topbar-inner">
          <a className="brand" href={href.home}>
            <span className="brand-logo" aria-hidden="true" />
            Vision
          </a>
          <button className="menu-toggle" aria-label="Menu" onClick={() => setMenuOpenOn((on) => (on === route ? null : route))}>
            ☰
          </button>
          <nav className={menuOpen ? 'nav open' : 'nav'} data-testid="nav">
            {NAV.filter((n) => may(n.needs)).map((n) => (
              <a key={n.page} href={n.href} className={active === n.page ? 'active' : ''} data-testid={`nav-${n.page}`}>
                {n.label}
              </a>
            ))}
          </nav>
          <SocketBadge />
          <AccountBadge />
        </div>
        <OpenNotice />
      </header>
      <main className="container" data-testid={`page-${route.page}`}>
        {bundle.status === 'error' && (
          <div className="bundle-error" data-testid="bundle-error">
            <p className="muted small">The server's model bundle (its classes and heads) could not be read; asking again…</p>
            <ErrorList errors={bundle.errors} />
          </div>
        )}
        {page}
      </main>
      <footer className="footer">
        Vision platform · one backbone pass, {counted(bundle.status === 'ready' ? bundle.heads.length : null, 'head')} · GraphQL at <a href="/graphql">/graphql</a>
      </footer>
    </>
  );
}
