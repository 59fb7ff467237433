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
