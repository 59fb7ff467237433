/** `npm run build`: bundles the container init program (see src/container/bundle.ts). */
import { buildInit } from '../src/container/bundle.js';

const output = await buildInit();
console.log(`built ${output}`);
