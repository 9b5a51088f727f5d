// Contender for the "execa load cost" pair: import execa and run `true` once with a body on stdin,
// the way a one-shot would. Compare with load-child-process.mjs.
import { execa } from 'execa';

await execa('true', { input: 'x', stdout: 'inherit', stderr: 'inherit' });
