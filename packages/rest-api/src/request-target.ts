import type { QueryParams } from './health.js';

export interface RequestTarget {
  /** The path, undecoded, without query or fragment. */
  readonly path: string;
  /** First path segment, which selects the route (`/replica/x` -> `replica`; `/` -> ``). */
  readonly route: string;
  readonly query: QueryParams;
}

const NO_QUERY: QueryParams = new Map();

/** Splits a request target the way Patroni's router does; blank query values count as absent. */
export function parseRequestTarget(url: string | undefined): RequestTarget {
  let target = url ?? '/';
  // Absolute-form (`GET http://host/replica`): keep only the path.
  if (!target.startsWith('/')) {
    const schemeEnd = target.indexOf('://');
    if (schemeEnd >= 0) {
      const pathStart = target.indexOf('/', schemeEnd + 3);
      target = pathStart >= 0 ? target.slice(pathStart) : '/';
    }
  }
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const mark = target.indexOf('?');
  const path = mark >= 0 ? target.slice(0, mark) : target;
  let query = NO_QUERY;
  if (mark >= 0 && mark < target.length - 1) {
    const params = new Map<string, string>();
    for (const [name, value] of new URLSearchParams(target.slice(mark + 1))) {
      if (value !== '' && !params.has(name)) params.set(name, value);
    }
    query = params;
  }
  let start = 0;
  while (path.charCodeAt(start) === 47 /* '/' */) start++;
  const end = path.indexOf('/', start);
  const route = end >= 0 ? path.slice(start, end) : path.slice(start);
  return { path, route, query };
}
