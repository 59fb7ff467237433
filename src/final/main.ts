/**
 * minidocker's entry point (bin/minidocker.js runs its bundle, dist/minidocker.js). The commands are in
 * cli.ts, a chunk of the bundle loaded only after this has done the one thing that cannot wait: start
 * a foreground run's init, a second Node process whose own start then overlaps the loading of the
 * rest (early-init.ts).
 */
import { takeMineFlag } from '../build/bundle.js';
import { takeDebugFlag } from '../sys/errors.js';

const { argv, debug } = takeDebugFlag(process.argv.slice(2));
const args = takeMineFlag(argv);
const wantsHelp = args.length === 0 || args.includes('--help') || args[0] === 'help';
// An ordinary user: the same command, run again as root of the user's own user namespace (rootless.ts),
// before the runtime's modules are loaded: this process only waits for that one.
if (process.geteuid?.() !== 0 && !wantsHelp) {
  const { enterRootless } = await import('./rootless.js');
  process.exit(await enterRootless(args));
}
const { discardEarlyInit, startEarlyInit } = await import('./early-init.js');
await startEarlyInit(args);
const { runCommandLine } = await import('./cli.js');
const exitCode = await runCommandLine(args, debug);
discardEarlyInit(); // not taken: the command failed before it needed one
process.exit(exitCode);
