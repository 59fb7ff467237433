/**
 * Progress of a long import, as `docker load` shows it: on a terminal one line per layer that keeps
 * updating ("layer 2/3  extract  12.3 MB / 45.6 MB"); in a log (not a terminal) one line per finished
 * layer, so that CI output stays readable.
 */
import type { ProgressEvent } from './store.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

const PHASES: Record<ProgressEvent['phase'], string> = { verify: 'verifying', extract: 'extracting', present: 'already present', done: 'done' };

/** A function to pass as onProgress. `stream` is where the lines go (stderr, like Docker's progress). */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: ProgressEvent) => void {
  let lastDraw = 0;
  return (event) => {
    const digest = event.digest ? ` ${event.digest.slice(7, 19)}` : '';
    const finished = event.phase === 'done' || event.phase === 'present';
    if (!stream.isTTY) {
      if (finished) stream.write(`${event.what}${digest}: ${PHASES[event.phase]} (${formatBytes(event.total)})\n`);
      return;
    }
    const now = Date.now();
    if (!finished && now - lastDraw < 100) return; // ten redraws a second are plenty
    lastDraw = now;
    const percent = event.total > 0 ? ` ${Math.floor((100 * event.bytes) / event.total)}%` : '';
    const line = `${event.what}${digest}  ${PHASES[event.phase]}  ${formatBytes(event.bytes)} / ${formatBytes(event.total)}${finished ? '' : percent}`;
    // \r goes back to the start of the line, ESC[2K clears it: the same line is redrawn until the layer is done.
    stream.write(`\r\x1b[2K${line}${finished ? '\n' : ''}`);
  };
}

/** What a pull or push reports (registry.ts's RegistryEvent): a line of its own, or a layer's status. */
export interface LayerStatus {
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

/** Docker's bar: "[=====>      ]  1.2MB/3.4MB". */
function progressBar(current: number, total: number): string {
  const width = 50;
  const filled = total > 0 ? Math.min(width, Math.floor((width * current) / total)) : 0;
  const bar = filled >= width ? '='.repeat(width) : `${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}`;
  return `[${bar}]  ${formatBytes(current).replace(' ', '')}/${formatBytes(total).replace(' ', '')}`;
}

/**
 * Progress of `pull` and `push` as the docker CLI prints it. On a terminal each layer has a line of its
 * own that is redrawn in place (cursor up, clear, write, cursor down); in a log every status change is
 * one line and the byte counts are left out, so that CI output stays readable.
 */
export function layerStatusPrinter(stream: NodeJS.WriteStream = process.stdout): (event: LayerStatus) => void {
  const rows: (string | null)[] = []; // what each printed line shows: a layer's id, or null for a plain line
  const lastStatus = new Map<string, string>();
  let lastDraw = 0;
  return (event) => {
    if (!event.id) {
      rows.push(null);
      stream.write(`${event.status}\n`);
      return;
    }
    const withBytes = event.current !== undefined && event.total !== undefined;
    if (!stream.isTTY) {
      if (withBytes && lastStatus.get(event.id) === event.status) return;
      lastStatus.set(event.id, event.status);
      stream.write(`${event.id}: ${event.status}\n`);
      return;
    }
    const now = Date.now();
    if (withBytes && lastStatus.get(event.id) === event.status && now - lastDraw < 100) return; // ten redraws a second are plenty
    lastDraw = now;
    lastStatus.set(event.id, event.status);
    const text = `${event.id}: ${event.status}${withBytes ? ` ${progressBar(event.current!, event.total!)}` : ''}`;
    const row = rows.lastIndexOf(event.id);
    if (row < 0) {
      rows.push(event.id);
      stream.write(`${text}\n`);
      return;
    }
    const up = rows.length - row;
    // ESC[nA: n lines up; \r ESC[2K: start of the line, cleared; ESC[nB: back down where we were.
    stream.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  };
}
