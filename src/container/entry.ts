/**
 * The program the runtime starts for every container: `node dist/init.js monitor|init`.
 * It is bundled to plain JavaScript (scripts/build.ts) because it is on the start path of every
 * container: going through a TypeScript loader here would cost hundreds of milliseconds per start.
 */
import { fileURLToPath } from 'node:url';
import { linuxSyscalls } from '../sys/index.js';
import { runInit } from './init.js';
import { runMonitor } from './monitor.js';

const [mode, ...flags] = process.argv.slice(2);
const sys = linuxSyscalls();
if (mode === 'monitor') {
  runMonitor(sys, fileURLToPath(import.meta.url), { dieWithParent: flags.includes('--die-with-parent') });
} else if (mode === 'init') {
  runInit(sys);
} else {
  process.stderr.write('usage: init.js monitor [--die-with-parent] | init  (started by the runtime, not by hand)\n');
  process.exit(2);
}
