// Contender for the "execa load cost" pair: the same work as load-execa.mjs with node:child_process.
import { spawn } from 'node:child_process';

const child = spawn('true', { stdio: ['pipe', 'inherit', 'inherit'] });
child.stdin.on('error', () => {});
child.stdin.end('x');
await new Promise((resolve) => child.on('exit', resolve));
