// The CLI carries its default models, so a packed and installed @attnflow/cli works offline without this
// repository: pipelines/models/ stays their source of truth and is copied whole into dist/models/ at every
// build (packages/cli/turbo.json makes it an input of the build), where defaults.ts looks for them.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../../../pipelines/models/', import.meta.url);
const to = new URL('../dist/models/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
