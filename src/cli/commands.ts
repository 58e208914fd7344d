import type { Command } from 'commander';
import { clientCommand } from './client.js';

/** Every CLI command, one file each; adding one is a file and a line here. */
export const COMMANDS: ReadonlyArray<() => Command> = [clientCommand];
