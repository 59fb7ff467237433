/**
 * npm run exercise N [-- --reset]
 *
 * Creates workshop/lessons/NN-slug/: the student's copy of lesson N, with the solutions taken out.
 */
import { exitWithError } from '../errors.js';
import { exerciseCommand } from './exercise-command.js';

try {
  console.log(exerciseCommand(process.argv.slice(2)));
} catch (error) {
  exitWithError(error);
}
