#!/usr/bin/env node
// minidocker: the course's docker-like, daemon-less runtime (src/final/cli.ts).
import { launch } from './launch.js';

await launch('minidocker');
