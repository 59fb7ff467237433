/**
 * The program the runtime starts for every container: `node dist/init.cjs monitor|init`, made of this
 * core and the lessons' features (lessons/program.ts is its entry point; src/build bundles it).
 * It is bundled to plain JavaScript because it is on the start path of every container: going
 * through a TypeScript loader here would cost hundreds of milliseconds per start.
 *
 * A third mode, `enter PID [COMMAND...]`, runs a command inside a running container's namespaces with
 * the terminal attached — the lessons' "open a shell in the container" key, like `nsenter -t PID -a`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { linuxSyscalls } from '../sys/index.js';
import type { FeatureRegistry } from './features.js';
import { runInit } from './init.js';
import { runMonitor } from './monitor.js';
import { execInContainer } from './runtime.js';
import { DEFAULT_PATH } from './plan.js';

/** `entryUrl`: import.meta.url of the entry point, which is this very program once it is bundled. */
export async function runContainerProgram(registry: FeatureRegistry, entryUrl: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  const self = fileURLToPath(entryUrl);
  const [mode, ...rest] = argv;
  if (mode === 'monitor') {
    const shim = rest.indexOf('--shim');
    runMonitor(linuxSyscalls(), self, registry, { dieWithParent: rest.includes('--die-with-parent'), shimDir: shim >= 0 ? rest[shim + 1] : undefined });
  } else if (mode === 'init') {
    runInit(linuxSyscalls(), registry);
  } else if (mode === 'enter' && Number(rest[0]) > 0) {
    await enter(self, Number(rest[0]), rest.slice(1));
  } else {
    process.stderr.write('usage: init.cjs monitor [--die-with-parent] [--shim DIR] | init | enter PID [COMMAND...]\n');
    process.exit(2);
  }
}

/**
 * bash when the container's filesystem has it (its prompt can show the host name), else sh. No rc
 * files: until lesson 03 the container shares the host's files, and the host's ~/.bashrc is not its.
 */
function defaultShell(pid: number): string[] {
  // /proc/PID/root is the container's root directory, seen from the host.
  return existsSync(`/proc/${pid}/root/bin/bash`) ? ['/bin/bash', '--norc', '--noprofile'] : ['/bin/sh'];
}

async function enter(self: string, pid: number, command: string[]): Promise<void> {
  // The shell owns the terminal now; Ctrl-C is for it.
  process.on('SIGINT', () => {});
  const env = [`PATH=${DEFAULT_PATH}`, `TERM=${process.env.TERM ?? 'xterm'}`, 'PS1=\\h:\\w# '];
  try {
    const container = await execInContainer(pid, { args: command.length ? command : defaultShell(pid), env }, {
      bundle: { prebuilt: self },
      foreground: true,
    });
    process.exit((await container.wait()).exitCode);
  } catch (error) {
    process.stderr.write(`enter: ${(error as Error).message}\n`);
    process.exit((error as { exitCode?: number }).exitCode ?? 125);
  }
}
