/**
 * Turning check results into the doctor's compact, grouped text.
 */
import type { ChalkInstance } from 'chalk';
import type { CgroupLayout } from '../../sys/cgroupfs.js';
import { checksFor, GROUPS, LAST_LESSON, LESSON_NEEDS, type CheckId, type Group, type LessonTarget } from './checks.js';
import type { Outcome } from './outcome.js';

export interface CheckResult extends Outcome {
  id: CheckId;
  group: Group;
  title: string;
  need: string;
  required: boolean;
  /** The first lesson that needs this check (null: optional). */
  neededBy: LessonTarget | null;
}

export interface DoctorReport {
  /** Every required check passed. */
  ok: boolean;
  /** The highest lesson whose requirements all pass (0: not even lesson 1). */
  readyThrough: number;
  checks: CheckResult[];
  /** The detected cgroup layout, for tools and tests ("hybrid" on a v1 host with a unified mount). */
  cgroup: CgroupLayout | null;
}

export function readyThrough(checks: readonly CheckResult[]): number {
  const passed = new Set(checks.filter((c) => c.ok).map((c) => c.id));
  let lesson = 0;
  for (let next = 1; next <= LAST_LESSON; next++) {
    if (!(next in LESSON_NEEDS)) continue; // a number no lesson has yet
    if (!checksFor(next).every((id) => passed.has(id))) break;
    lesson = next;
  }
  return lesson;
}

export function formatReport(report: DoctorReport, chalk: ChalkInstance, rerun: string): string {
  const width = Math.max(...report.checks.map((c) => c.title.length)) + 2;
  const indent = ' '.repeat(4 + width);
  const lines: string[] = [chalk.bold('mini-docker lab · doctor'), ''];

  for (const group of GROUPS) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    lines.push(chalk.bold(group));
    for (const check of checks) {
      const mark = check.ok ? chalk.green('✓') : check.required ? chalk.red('✗') : chalk.yellow('✗');
      // Everything in the Optional group is optional; elsewhere (user namespace, swap accounting) say so.
      const optional = !check.required && !check.ok && check.group !== 'Optional' ? chalk.dim(' (optional)') : '';
      lines.push(`  ${mark} ${check.title.padEnd(width)}${check.ok ? check.found : chalk.bold(check.found)}${optional}`);
      if (!check.ok && check.fix) lines.push(`${indent}${chalk.yellow('fix:')} ${check.fix}`);
      if (check.ok && check.hint) lines.push(`${indent}${chalk.dim(`note: ${check.hint}`)}`);
    }
  }

  lines.push('');
  const failed = report.checks.filter((c) => c.required && !c.ok);
  if (failed.length === 0) {
    lines.push(chalk.green('All required checks passed: the whole course will run here.'));
  } else {
    const ready =
      report.readyThrough === 0
        ? 'No lesson can run yet'
        : report.readyThrough === 1
          ? 'Ready for lesson 1'
          : `Ready for lessons 1–${report.readyThrough}`;
    lines.push(
      chalk.red(`${failed.length} required check${failed.length === 1 ? '' : 's'} failed. `) +
        `${ready}. Apply the fixes above, then run \`${rerun}\` again.`,
    );
  }
  return lines.join('\n');
}
