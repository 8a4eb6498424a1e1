import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// During development the API runs elsewhere (VISION_API, default http://127.0.0.1:8080):
// `/graphql` (HTTP and WebSocket) and `/images/<id>/file` are proxied to it, so the app
// always uses same-origin relative URLs, exactly as when the gateway serves `dist/`.
const api = process.env.VISION_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    sourcemap: true,
    // Monaco (GraphiQL's editor, its own lazy chunk of graphiql.html) is about 3 MB minified;
    // the dashboard's own chunks stay far below this.
    chunkSizeWarningLimit: 4000,
    // Two pages: the dashboard (`/`) and GraphiQL, built from npm with everything it loads
    // (Monaco, its workers, fonts), so it works offline; the gateway serves `dist/graphiql.html`
    // for a browser's GET /graphql, hence absolute `/assets/...` URLs (base '/').
    rolldownOptions: {
      input: {
        main: fileURLToPath(new URL('./index.html', import.meta.url)),
        graphiql: fileURLToPath(new URL('./graphiql.html', import.meta.url)),
      },
      onwarn(warning, warn) {
        // GraphiQL's modules carry React Compiler's "use no memo" directive, which means
        // nothing once bundled (no compiler runs here): not worth a warning per module.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' && warning.id?.includes('/node_modules/')) return;
        warn(warning);
      },
    },
  },
  // Monaco's workers are ES modules (they import their own chunks).
  worker: { format: 'es' },
  server: {
    proxy: {
      '/graphql': { target: api, ws: true, changeOrigin: true },
      '/images': { target: api, changeOrigin: true },
      '/health': { target: api, changeOrigin: true },
      '/ready': { target: api, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/graphql': { target: api, ws: true, changeOrigin: true },
      '/images': { target: api, changeOrigin: true },
      '/health': { target: api, changeOrigin: true },
      '/ready': { target: api, changeOrigin: true },
    },
  },
});
