/**
 * What lesson 01 adds to a container's life (see lessons/registry.ts): a UTS namespace, and the names
 * config.json's `hostname` asks for, set by init inside it.
 */
import { ConfigError, namespacesOf } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import { newUtsNamespace, setUpUts } from './uts.js';

export const utsFeature = defineFeature({
  name: 'lesson 01 (uts)',
  namespaces: { uts: newUtsNamespace },
  steps: { hostname: setUpUts },
  plan(config, _context, step) {
    if (!config.hostname) return [];
    // sethostname(2) changes the namespace it runs in: without a new one, the host's name (runc refuses too).
    if (!namespacesOf(config).create.includes('uts')) throw new ConfigError('config.json: hostname needs a new uts namespace');
    return [step('hostname', { hostname: config.hostname })];
  },
});
