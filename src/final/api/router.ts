/**
 * The Engine API's request router: an HTTP method and a path → the handler that answers it, with the
 * path's parameters. Pure (no sockets, no state), so it is tested on its own.
 *
 *   const router = createRouter([{ method: 'GET', pattern: '/containers/{id}/json', handler }]);
 *   router.match('GET', '/v1.43/containers/web/json?size=1')
 *     → { kind: 'found', handler, params: { id: 'web' }, query: URLSearchParams, version: '1.43' }
 *
 * Patterns, as moby's gorilla/mux routes read (api/server/router/*):
 *   {name}   one path segment ("web", "abc123")
 *   {name*}  the rest of the path, slashes too — an image name such as localhost:5000/lab/app:v1
 *            (moby writes it {name:.*})
 * Every path may start with a version, /v1.NN/, as the docker CLI sends them once it has negotiated one;
 * it is taken off before matching and returned, so the server can refuse a version it does not speak.
 */

export interface Route<H> {
  method: string;
  pattern: string;
  handler: H;
}

export type Match<H> =
  | { kind: 'found'; handler: H; params: Record<string, string>; query: URLSearchParams; version: string | null; path: string }
  /** No route has this path: Docker answers 404 {"message":"page not found"}. */
  | { kind: 'not-found'; path: string; version: string | null }
  /** A route has this path, for other methods (moby: 405 under gorilla/mux; the list is for Allow). */
  | { kind: 'wrong-method'; allowed: string[]; path: string; version: string | null };

export interface Router<H> {
  match(method: string, url: string): Match<H>;
}

const VERSION_PREFIX = /^\/v(\d+\.\d+)(?=\/)/;

interface Compiled<H> {
  route: Route<H>;
  regex: RegExp;
  names: string[];
}

/** "/containers/{id}/json" → /^\/containers\/([^/]+)\/json$/ and ["id"]. */
export function compilePattern(pattern: string): { regex: RegExp; names: string[] } {
  if (!pattern.startsWith('/')) throw new Error(`route pattern "${pattern}" must start with /`);
  const names: string[] = [];
  const source = pattern
    .split('/')
    .map((segment) =>
      segment.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}|[^{}]+/g, (token, name: string | undefined, rest: string | undefined) => {
        if (name === undefined) return token.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
        if (names.includes(name)) throw new Error(`route pattern "${pattern}" names {${name}} twice`);
        names.push(name);
        return rest ? '(.+)' : '([^/]+)';
      }),
    )
    .join('/');
  if (/[{}]/.test(source)) throw new Error(`route pattern "${pattern}" has an unclosed {`);
  return { regex: new RegExp(`^${source}$`), names };
}

/** The path and query of a request target, the version taken off: "/v1.43/_ping?x=1" → "/_ping". */
export function splitTarget(url: string): { path: string; query: URLSearchParams; version: string | null } {
  const question = url.indexOf('?');
  let path = question < 0 ? url : url.slice(0, question);
  const query = new URLSearchParams(question < 0 ? '' : url.slice(question + 1));
  const version = VERSION_PREFIX.exec(path)?.[1] ?? null;
  if (version) path = path.slice(version.length + 2);
  // A trailing slash names the same endpoint (the docker CLI never sends one, curl users do).
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { path, query, version };
}

export function createRouter<H>(routes: readonly Route<H>[]): Router<H> {
  const compiled: Compiled<H>[] = routes.map((route) => ({ route, ...compilePattern(route.pattern) }));
  return {
    match(method, url) {
      const { path, query, version } = splitTarget(url);
      const allowed: string[] = [];
      // HEAD is answered by the GET route where there is no HEAD route of its own (RFC 9110 9.3.2).
      const wanted = (route: Route<H>) => route.method === method || (method === 'HEAD' && route.method === 'GET' && !compiled.some((other) => other.route.method === 'HEAD' && other.regex.test(path)));
      for (const { route, regex, names } of compiled) {
        const found = regex.exec(path);
        if (!found) continue;
        if (!wanted(route)) {
          allowed.push(route.method);
          continue;
        }
        let params: Record<string, string>;
        try {
          params = Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1]!)]));
        } catch {
          continue; // a malformed %-escape is no name this route knows
        }
        return { kind: 'found', handler: route.handler, params, query, version, path };
      }
      return allowed.length ? { kind: 'wrong-method', allowed: [...new Set(allowed)], path, version } : { kind: 'not-found', path, version };
    },
  };
}
