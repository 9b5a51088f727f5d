import { consumeCli } from './consume-cli.js';
import { runCli } from './run-cli.js';

// dist/wq-consume.mjs: the bundle `node` starts directly.
runCli(consumeCli);
