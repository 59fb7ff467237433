/**
 * Before the suite: tells, once and up front, what this machine lacks (the doctor's checks), so that a
 * failing lesson test on a fresh machine comes with its fix instead of a puzzling ENOENT deep in a log.
 * It only prints; the tests decide for themselves.
 */
import { runDoctor } from '../../src/course/doctor.js';

export default async function machineNotice(): Promise<void> {
  if (process.getuid?.() !== 0) return; // the root-only tests skip themselves and say why
  const report = await runDoctor({ rerun: 'npm test' });
  const missing = report.checks.filter((check) => check.required && !check.ok);
  if (missing.length === 0) return;
  const lines = missing.map((check) => `  ✗ ${check.title}: ${check.found}${check.fix ? ` — ${check.fix}` : ''}`);
  console.warn(`\nThis machine lacks what some lessons need; their tests will fail until it has it:\n${lines.join('\n')}\n`);
}
