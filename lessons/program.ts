/**
 * The program every lab container starts as (`node dist/init.js monitor|init|enter`): the core's
 * monitor and init, with the lessons' features. src/build bundles it into one file, the student's
 * lessons included with `--mine`.
 */
import { runContainerProgram } from '../src/container/program.js';
import { registry } from './registry.js';

await runContainerProgram(registry, import.meta.url);
