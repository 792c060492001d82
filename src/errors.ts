/**
 * Typed errors: every failure a user can see is one of these, and its class decides the exit code.
 * They live in src/domain/errors.ts (pure, imported by the domain rules); this is the short path.
 */
export * from './domain/errors.js';
