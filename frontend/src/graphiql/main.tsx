// GraphiQL of the vision platform, built from npm with the dashboard (graphiql.html): no CDN, so
// it works offline. The gateway serves it for a browser's GET /graphql.

// Monaco's workers (editor, JSON, GraphQL) as Vite worker chunks, before GraphiQL loads Monaco.
import 'graphiql/setup-workers/vite';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQLPage } from './GraphiQLPage';
import 'graphiql/style.css';
import './graphiql.css';

createRoot(document.getElementById('graphiql-root')!).render(
  <StrictMode>
    <GraphiQLPage />
  </StrictMode>,
);
