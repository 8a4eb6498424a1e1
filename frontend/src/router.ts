import { useEffect, useState } from 'react';

export type Route =
  | { page: 'home' }
  | { page: 'upload' }
  | { page: 'result'; id: string }
  | { page: 'live' }
  | { page: 'stats' }
  | { page: 'history' }
  | { page: 'models' }
  /** `focus`: the id of a key to pick out (`#/keys?key=<id>`, from the audit log). */
  | { page: 'keys'; focus?: string }
  | { page: 'audit' }
  | { page: 'notFound'; path: string };

/** `#/images/<id>` -> `{ page: 'result', id }`; an empty hash is the home page. */
export function parseHash(hash: string): Route {
  const [rawPath, query = ''] = hash.replace(/^#/, '').split('?', 2);
  const path = rawPath || '/';
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return { page: 'home' };
  const [first, second] = parts;
  if (parts.length === 1) {
    switch (first) {
      case 'upload':
        return { page: 'upload' };
      case 'live':
        return { page: 'live' };
      case 'stats':
        return { page: 'stats' };
      case 'history':
        return { page: 'history' };
      case 'models':
        return { page: 'models' };
      case 'keys': {
        const focus = params.get('key');
        return focus ? { page: 'keys', focus } : { page: 'keys' };
      }
      case 'audit':
        return { page: 'audit' };
    }
  }
  if (first === 'images' && second && parts.length === 2) {
    return { page: 'result', id: decodeURIComponent(second) };
  }
  return { page: 'notFound', path };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => {
      setRoute(parseHash(window.location.hash));
      window.scrollTo(0, 0);
    };
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export const href = {
  home: '#/',
  upload: '#/upload',
  live: '#/live',
  stats: '#/stats',
  history: '#/history',
  models: '#/models',
  keys: '#/keys',
  /** The Keys page with key `id` picked out. */
  key: (id: string) => `#/keys?key=${encodeURIComponent(id)}`,
  audit: '#/audit',
  image: (id: string) => `#/images/${encodeURIComponent(id)}`,
};

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}
