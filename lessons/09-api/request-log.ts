/**
 * The daemon's request log (`minidocker system service --log-requests`, what `dockerd --debug` prints as
 * "Calling POST /v1.47/containers/create"): three lines per request, because an answer of the Engine
 * API can take its time — a wait's headers go out at once and its body when the container exits, an
 * attach turns the connection into a stream that lasts as long as the container.
 *
 *   api #3 POST /v1.47/containers/abc/wait?condition=next-exit     the request arrived
 *   api #3 200 after 2 ms                                          its status line went out
 *   api #3 done after 1830 ms                                      its connection's answer ended
 *
 * The lesson reads these lines from the service's stderr and shows one row per request.
 */

export type RequestEvent =
  | { kind: 'arrived'; number: number; method: string; target: string }
  | { kind: 'answered'; number: number; status: number; ms: number }
  | { kind: 'done'; number: number; ms: number };

export function formatRequestEvent(event: RequestEvent): string {
  switch (event.kind) {
    case 'arrived':
      return `api #${event.number} ${event.method} ${event.target}`;
    case 'answered':
      return `api #${event.number} ${event.status} after ${event.ms} ms`;
    case 'done':
      return `api #${event.number} done after ${event.ms} ms`;
  }
}

const ARRIVED = /^api #(\d+) ([A-Z]+) (\/\S*)$/;
const ANSWERED = /^api #(\d+) (\d{3}) after (\d+) ms$/;
const DONE = /^api #(\d+) done after (\d+) ms$/;

/** One line of the log, or null for any other line the service prints. */
export function parseRequestEvent(line: string): RequestEvent | null {
  let found = ARRIVED.exec(line);
  if (found) return { kind: 'arrived', number: Number(found[1]), method: found[2]!, target: found[3]! };
  found = ANSWERED.exec(line);
  if (found) return { kind: 'answered', number: Number(found[1]), status: Number(found[2]), ms: Number(found[3]) };
  found = DONE.exec(line);
  if (found) return { kind: 'done', number: Number(found[1]), ms: Number(found[2]) };
  return null;
}

/** One request as the log has told it so far. */
export interface LoggedRequest {
  number: number;
  method: string;
  target: string;
  /** null while the status line has not gone out (a handler at work). */
  status: number | null;
  /** How long until the status line went out. */
  answeredMs: number | null;
  /** How long the whole answer took; null while it is still open (a wait, an attach, a log follower). */
  doneMs: number | null;
}

/** The requests of a log, in the order they arrived. */
export function requestsOf(lines: Iterable<string>): LoggedRequest[] {
  const byNumber = new Map<number, LoggedRequest>();
  for (const line of lines) {
    const event = parseRequestEvent(line);
    if (!event) continue;
    if (event.kind === 'arrived') {
      byNumber.set(event.number, { number: event.number, method: event.method, target: event.target, status: null, answeredMs: null, doneMs: null });
      continue;
    }
    const request = byNumber.get(event.number);
    if (!request) continue; // its arrival was before we started reading
    if (event.kind === 'answered') Object.assign(request, { status: event.status, answeredMs: event.ms });
    else request.doneMs = event.ms;
  }
  return [...byNumber.values()].sort((a, b) => a.number - b.number);
}

/** "/v1.47/containers/4f3a…/wait?condition=next-exit" → "/containers/{id}/wait": the route, for reading at a glance. */
export function routeShape(target: string): string {
  const path = target.replace(/\?.*$/, '').replace(/^\/v\d+\.\d+(?=\/)/, '');
  return path.replace(/^\/(containers|exec)\/(?!json$|create$)[^/]+/, '/$1/{id}');
}
