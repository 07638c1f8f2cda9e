export { summary, run } from '@difflab/trainer';
