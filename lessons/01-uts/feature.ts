/**
 * What lesson 01 adds to a container's life (see lessons/registry.ts): a UTS namespace, and the names
 * config.json's `hostname` asks for, set by init inside it.
 */
import { ConfigError, hasOwnNamespace } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import { newUtsNamespace, setUpUts } from './uts.js';

export const utsFeature = defineFeature({
  name: 'lesson 01 (uts)',
  namespaces: { uts: newUtsNamespace },
  steps: { hostname: setUpUts },
  plan(config, _context, step) {
    if (!config.hostname) return [];
    // sethostname(2) changes the namespace it runs in: it must be the container's — a new one, or one joined
    // by path that is not the runtime's own — or it would rename the host (runc refuses that too).
    if (!hasOwnNamespace(config, 'uts')) throw new ConfigError("config.json: hostname needs a uts namespace of the container's own (a new one, or another's joined by path)");
    return [step('hostname', { hostname: config.hostname })];
  },
});
