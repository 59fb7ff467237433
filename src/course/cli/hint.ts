/**
 * npm run hint N [EXERCISE-ID] [-- --reset]
 *
 * Reveals the next hint of one exercise of lesson N (and repeats the ones already shown): the exercise
 * named, or the first one not done yet.
 */
import { exitWithError } from '../errors.js';
import { hintCommand } from './hint-command.js';

try {
  console.log(hintCommand(process.argv.slice(2)));
} catch (error) {
  exitWithError(error);
}
