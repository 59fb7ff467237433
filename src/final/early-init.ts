/**
 * A foreground `minidocker run`'s init, started before the rest of minidocker is even loaded.
 *
 * Every container's init is a second Node process, and Node's own start (~0.1 s, before init can do
 * anything) is the longest wait of a short run. startInitEarly (src/container/runtime.ts) lets it overlap
 * the run's image and config work; started from minidocker's entry point (main.ts), it also overlaps
 * the loading of minidocker itself, whose commands are a chunk loaded after this.
 *
 * Which command lines get one is guessed from their words, before any flag is parsed: `run` without
 * -d, -i or -t. Only a guess: createFromImage takes the init when it suits the parsed run (the same
 * stdio here, a new PID namespace in EarlyInit.takeFor) and ends it otherwise.
 */
import { startInitEarly, type EarlyInit, type StdioTarget } from '../container/runtime.js';
import { registry } from '../../lessons/registry.js';
import { inUserNamespace } from '../sys/process.js';

/** A run's stdio without -i and -t: no input, the output straight to ours (docker.ts stdioFor). */
const PLAIN_STDIO: [StdioTarget, StdioTarget, StdioTarget] = ['ignore', 'inherit', 'inherit'];

let early: { init: EarlyInit; stdio: readonly StdioTarget[] } | undefined;

/**
 * Could this command line be a foreground run with neither input nor a terminal? Any word that might be
 * -d, -i or -t (alone, combined as in -it, spelled out, or even an argument of the command) says no.
 */
export function looksLikePlainRun(argv: string[]): boolean {
  return argv[0] === 'run' && !argv.slice(1).some((arg) => /^-[a-zA-Z]*[dit]|^--(detach|interactive|tty)\b/.test(arg));
}

/** Starts the early init when the command line looks like a plain run (looksLikePlainRun). */
export async function startEarlyInit(argv: string[]): Promise<void> {
  if (!looksLikePlainRun(argv) || inUserNamespace()) return; // rootless: see createFromImage

  try {
    early = { init: await startInitEarly({ stdio: PLAIN_STDIO, direct: { registry }, newPidNamespace: true }), stdio: PLAIN_STDIO };
  } catch {
    // Only a head start: the run then starts its init itself, and reports whatever fails there.
    early = undefined;
  }
}

/** The early init, for a run whose init gets this stdio; one started for another stdio is ended. */
export function takeEarlyInit(stdio: StdioTarget[]): EarlyInit | undefined {
  const taken = early;
  early = undefined;
  if (taken && stdio.some((target, index) => target !== taken.stdio[index])) {
    taken.init.discard();
    return undefined;
  }
  return taken?.init;
}

/** Ends an early init nothing took (the command failed first, or was not a foreground run after all). */
export function discardEarlyInit(): void {
  early?.init.discard();
  early = undefined;
}
