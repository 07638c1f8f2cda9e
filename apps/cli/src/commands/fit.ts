export { summary, run } from '@difflab/scaling-law-fitter';
