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
import { isStale } from './fresh.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @param {'minidocker' | 'oci'} name */
export async function launch(name) {
  const mine = process.argv[2] === '--mine';
  if (mine && !existsSync(path.join(root, 'workshop', 'lessons'))) {
    process.stderr.write(`${name}: --mine runs your lessons, but there is no workshop yet: start one with \`npm run exercise 1\`\n`);
    process.exit(125);
  }
  const output = path.join(root, mine ? 'workshop/.build' : 'dist', `${name}.js`);
  if (isStale(output, root)) {
    const build = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'build.ts'), name, 'init', ...(mine ? ['--mine'] : [])], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    if (build.status !== 0) {
      process.stderr.write(`${name}: could not build ${path.relative(root, output)} (see above): fix the error, or run \`npm ci\` if node_modules is missing\n`);
      process.exit(125);
    }
  }
  await import(pathToFileURL(output).href);
}
