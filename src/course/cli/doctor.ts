/**
 * `npm run doctor [-- --json]`: checks this machine for everything the lab needs.
 * Exit status 0 when every required check passes, 1 otherwise (2 for a bad option).
 */
import { Chalk } from 'chalk';
import { defaultRerun, formatReport, runDoctor } from '../doctor.js';
import { CourseError, exitWithError } from '../errors.js';

try {
  const args = process.argv.slice(2);
  const unknown = args.find((arg) => arg !== '--json');
  if (unknown !== undefined) throw new CourseError(`unknown option ${unknown}; usage: npm run doctor [-- --json]`);

  const report = await runDoctor();
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    // chalk colours only a TTY by itself, but it ignores NO_COLOR (https://no-color.org): honour it here.
    const noColor = (process.env.NO_COLOR ?? '') !== '';
    const chalk = noColor ? new Chalk({ level: 0 }) : new Chalk();
    process.stdout.write(`${formatReport(report, chalk, defaultRerun())}\n`);
  }
  process.exitCode = report.ok ? 0 : 1;
} catch (error) {
  // The checks never throw on a missing file or tool; anything else is printed as one line, not a stack.
  exitWithError(error);
}
