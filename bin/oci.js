#!/usr/bin/env node
// The low-level OCI runtime, runc's command-line interface (src/final/oci/cli.ts).
import { launch } from './launch.js';

await launch('oci');
