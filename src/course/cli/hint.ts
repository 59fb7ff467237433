/**
 * npm run hint N [-- --reset]
 *
 * Reveals the next hint of lesson N (and repeats the ones already shown).
 */
import { exitWithError } from '../errors.js';
import { hintCommand } from './hint-command.js';

try {
  console.log(hintCommand(process.argv.slice(2)));
} catch (error) {
  exitWithError(error);
}
