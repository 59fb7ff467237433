/**
 * Starts one of the final runtime's tools from its JavaScript bundle (dist/NAME.js), rebuilding the
 * bundle first when a source changed — so `npm run minidocker` never compiles TypeScript on the way to
 * a container, yet always runs the current code. With --mine as the first argument it runs the
 * student's build instead (workshop/.build/NAME.js: their lessons, wherever they wrote one).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isStale } from '../src/build/fresh.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @param {'minidocker' | 'oci'} name */
export async function launch(name) {
  const mine = process.argv[2] === '--mine';
  const args = process.argv.slice(mine ? 3 : 2);
  const wantsHelp = args.length === 0 || args.includes('--help') || args[0] === 'help';
  if (name === 'oci' && process.geteuid?.() !== 0 && !wantsHelp) {
    // An engine runs the OCI runtime as root (or inside its own rootless user namespace, as root there).
    process.stderr.write(`${name}: must run as root (namespaces, mounts and cgroups need it): sudo env "PATH=$PATH" npm run ${name} -- ${process.argv.slice(2).join(' ')}; without root, use minidocker, which runs rootless\n`);
    process.exit(125);
  }
  if (mine && !existsSync(path.join(root, 'workshop', 'lessons'))) {
    process.stderr.write(`${name}: --mine runs your lessons, but there is no workshop yet: start one with \`npm run exercise 1\`\n`);
    process.exit(125);
  }
  const output = path.join(root, mine ? 'workshop/.build' : 'dist', `${name}.js`);
  if (isStale(output, root)) {
    const build = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'build.ts'), name, 'init', ...(mine ? ['--mine'] : [])], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (build.status !== 0) {
      const reason = (build.stderr.trim().split('\n').at(-1) || `exit ${build.status}`).replace(/^build: /, '');
      // A bundle esbuild could not write says so itself, with its fix (src/build/bundle.ts).
      const line = reason.startsWith('could not build ') ? reason : `could not build ${path.relative(root, output)}: ${reason}: fix that, or run \`npm ci\` if node_modules is missing`;
      process.stderr.write(`${name}: ${line}\n`);
      process.exit(125);
    }
  }
  await import(pathToFileURL(output).href);
}
