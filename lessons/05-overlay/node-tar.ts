/**
 * node-tar, loaded on first use: it takes ~25 ms to load, and most commands — `minidocker run` of an
 * image the store has, `ps`, `stop` — never read or write a tar. Synchronous (its CommonJS build,
 * through require), so that the functions that use it need not become async for it.
 */
import { createRequire } from 'node:module';

type NodeTar = typeof import('tar');

const require = createRequire(import.meta.url);
let loaded: NodeTar | undefined;

export function nodeTar(): NodeTar {
  loaded ??= require('tar') as NodeTar;
  return loaded;
}
