#!/usr/bin/env node
// TypeScript run through tsx, as the difflab CLI is: no build step between an edit and a run.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
