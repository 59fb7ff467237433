/**
 * `npm run build [-- --mine]`: bundles the container init and the two command-line tools into dist/
 * (with --mine: the student's build, into workshop/.build/). See src/build/bundle.ts.
 */
import { BUNDLES, buildBundle, type BundleName } from '../src/build/bundle.js';
import { defaultWorkshopDir } from '../src/build/repo.js';

const args = process.argv.slice(2);
const target = args.includes('--mine') ? { workshop: defaultWorkshopDir } : {};
const names = args.filter((arg) => arg !== '--mine') as BundleName[];
try {
  for (const name of names.length ? names : (Object.keys(BUNDLES) as BundleName[])) {
    if (!(name in BUNDLES)) throw new Error(`unknown bundle "${name}": ${Object.keys(BUNDLES).join(', ')}`);
    console.log(`built ${await buildBundle(name, target)}`);
  }
} catch (error) {
  // esbuild's errors are long; the one that matters is its first line after "Build failed".
  const lines = (error as Error).message.split('\n').filter((line) => line.trim() && !line.startsWith('Build failed'));
  console.error(`build: ${lines[0]?.replace(/^error: /, '') ?? String(error)}`);
  process.exit(1);
}
