import { useEffect, useState } from 'react';

export type Route =
  | { page: 'home' }
  | { page: 'upload' }
  | { page: 'result'; id: string }
  | { page: 'live' }
  | { page: 'stats' }
  | { page: 'history' }
  | { page: 'models' }
  | { page: 'keys' }
  | { page: 'notFound'; path: string };

/** `#/images/<id>` -> `{ page: 'result', id }`; an empty hash is the home page. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\?.*$/, '') || '/';
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
      case 'keys':
        return { page: 'keys' };
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
  image: (id: string) => `#/images/${encodeURIComponent(id)}`,
};

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}
