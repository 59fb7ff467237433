/**
 * Lesson 09's router: the part of the daemon that turns an HTTP request — a method and a path — into
 * the handler that answers it, with the path's parameters. The seeds' Docker Server does this with
 * gorilla/mux (a route is a method, a URL pattern and a handler); moby's api/server/router/* still does.
 * Pure: no sockets, no state, so it is checked on its own.
 *
 *   const router = createRouter([{ method: 'GET', pattern: '/containers/{id}/json', handler }]);
 *   router.match('GET', '/v1.43/containers/web/json?size=1')
 *     → { kind: 'found', handler, params: { id: 'web' }, query: URLSearchParams, version: '1.43', path: '/containers/web/json' }
 *
 * Patterns:
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
  // EXERCISE(api.pattern): Build the regular expression's source from the pattern, segment by segment: {name} becomes ([^/]+), {name*} becomes (.+), every other character is literal (escape the ones a RegExp treats specially, such as the dot); push each name onto `names` in order and throw when a name appears twice; a { or } left over means an unclosed parameter (throw, saying "unclosed"); return the RegExp anchored at both ends (^…$) and the names.
  // HINT: Split the pattern on "/" and join the converted segments with "/" again: a parameter never spans a slash unless it is {name*}.
  // HINT: A global replace with /\{([A-Za-z_][A-Za-z0-9_]*)(\*?)\}|[^{}]+/g visits each {param} and each run of literal text in a segment; its callback gets the name and the star (both undefined for literal text).
  // HINT: Escaping: text.replace(/[.*+?^$()|[\]\\]/g, '\\$&') puts a backslash before each special character. The error for a repeated name says "twice".
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
  // END EXERCISE
}

/** The path and query of a request target, the version taken off: "/v1.43/_ping?x=1" → "/_ping". */
export function splitTarget(url: string): { path: string; query: URLSearchParams; version: string | null } {
  // EXERCISE(api.target): Split a request target into its path and its query (the part after the first "?", as URLSearchParams); if the path starts with a version (/v1.43/…, see VERSION_PREFIX), take it off and return "1.43" as version (else null); a trailing slash after a longer path is dropped ("/_ping/" is "/_ping").
  // HINT: indexOf('?') finds where the query starts; -1 means there is none, and new URLSearchParams('') is an empty query.
  // HINT: VERSION_PREFIX.exec(path) gives the version as its group 1. The prefix is the version's length plus two characters ("/v") long.
  // HINT: "/" alone stays "/": only a path longer than one character loses its trailing slash.
  const question = url.indexOf('?');
  let path = question < 0 ? url : url.slice(0, question);
  const query = new URLSearchParams(question < 0 ? '' : url.slice(question + 1));
  const version = VERSION_PREFIX.exec(path)?.[1] ?? null;
  if (version) path = path.slice(version.length + 2);
  // A trailing slash names the same endpoint (the docker CLI never sends one, curl users do).
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return { path, query, version };
  // END EXERCISE
}

export function createRouter<H>(routes: readonly Route<H>[]): Router<H> {
  const compiled: Compiled<H>[] = routes.map((route) => ({ route, ...compilePattern(route.pattern) }));
  return {
    match(method, url) {
      const { path, query, version } = splitTarget(url);
      const allowed: string[] = [];
      // HEAD is answered by the GET route where there is no HEAD route of its own (RFC 9110 9.3.2).
      const wanted = (route: Route<H>) => route.method === method || (method === 'HEAD' && route.method === 'GET' && !compiled.some((other) => other.route.method === 'HEAD' && other.regex.test(path)));
      // EXERCISE(api.match): Try the routes in table order: the first whose regex matches the path and that is wanted() for this method is found, with its params (each captured group decoded with decodeURIComponent, named by `names`); a route whose regex matches but whose method is not wanted adds its method to `allowed`. Nothing found: wrong-method with the allowed methods (each once) if there were any, else not-found.
      // HINT: regex.exec(path) returns null or the match; group 1 is the first name's value, group 2 the second's …
      // HINT: decodeURIComponent throws on a broken escape such as "%E0%A4%A": then that route names nothing — go on to the next one.
      // HINT: [...new Set(list)] keeps each method once, in order.
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
      // END EXERCISE
    },
  };
}
