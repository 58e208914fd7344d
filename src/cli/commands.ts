import type { Command } from 'commander';

/** Every CLI command, one file each; adding one is a file and a line here. */
export const COMMANDS: ReadonlyArray<() => Command> = [];
