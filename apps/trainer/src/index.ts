export { summary, run } from './command.js';
