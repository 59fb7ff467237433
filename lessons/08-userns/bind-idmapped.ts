/**
 * `node --import tsx bind-idmapped.ts USERNS SOURCE TARGET`: the three calls of an idmapped bind mount,
 * made in whatever mount namespace this program was started in (idmap.ts: bindIdmappedInto starts it
 * with nsenter --mount, in a container's). Prints one line and exits 1 on failure.
 */
import { attachTree, explainIdmapFailure, idmappedTree } from './idmap.js';
import { closeSync } from 'node:fs';

const [usernsPath, source, target] = process.argv.slice(2);
if (!usernsPath || !source || !target) {
  process.stderr.write('usage: bind-idmapped.ts /proc/PID/ns/user SOURCE TARGET\n');
  process.exit(2);
}
try {
  const tree = idmappedTree(source, usernsPath);
  try {
    attachTree(tree, target);
  } finally {
    closeSync(tree);
  }
} catch (error) {
  process.stderr.write(`${explainIdmapFailure(error)}\n`);
  process.exit(1);
}
