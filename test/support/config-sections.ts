// Unit tests build configurations in-process (main's `prepareConfig` does not run): load every
// optional setting's parser once per test file, as main does when the environment sets one.
import { prepareConfig } from '../../src/config.js';

await prepareConfig({}, { all: true });
