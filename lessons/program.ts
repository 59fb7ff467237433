/**
 * The program every lab container starts as (`node dist/init.cjs monitor|init|enter`): the core's
 * monitor and init, with the lessons' features. src/build bundles it into one file, the student's
 * lessons included with `--mine`.
 */
import { runContainerProgram } from '../src/container/program.js';
import { registry } from './registry.js';

// No top-level await: this is bundled as a CommonJS script (see src/build/bundle.ts).
void runContainerProgram(registry, import.meta.url);
