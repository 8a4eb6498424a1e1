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
    chunkSizeWarningLimit: 1000,
  },
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
