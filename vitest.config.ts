import { defineConfig } from 'vitest/config';
import { gradingConfig, isGradingCheckout, scorecardReporterPath } from './src/course/grading-config.js';

/**
 * Two modes, one command (`npm test`):
 *  - a checkout with a workshop/ the student started: grade it (scorecard, results.json, junit.xml);
 *  - otherwise: the whole suite against the reference implementation.
 * The scorecard reporter also prints the closing "N passed, N failed" line CI reads.
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/setup/machine-notice.ts'],
    ...(isGradingCheckout()
      ? gradingConfig()
      : { include: ['test/**/*.test.ts', 'test/**/*.test.tsx'], reporters: ['default', scorecardReporterPath] }),
  },
});
