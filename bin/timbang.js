#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  // main() reports user mistakes itself; anything reaching here is a bug.
  console.error(err);
  process.exit(1);
});
