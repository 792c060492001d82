// Loaded with `node --import`: records every module URL the process resolves into
// $CUSTCTL_TRACE_IMPORTS, so a test can prove which heavy modules a command loads.
import { register } from 'node:module';
register(new URL('./trace-imports-hooks.mjs', import.meta.url), { data: { file: process.env.CUSTCTL_TRACE_IMPORTS } });
