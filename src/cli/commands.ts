import type { Command } from 'commander';
import { brokerCommand } from './broker.js';
import { clientCommand } from './client.js';
import { demoCommand } from './demo.js';
import { simulateCommand } from './simulate.js';
import { workerCommand } from './worker.js';

/** Every CLI command, one file each; adding one is a file and a line here. */
export const COMMANDS: ReadonlyArray<() => Command> = [
  brokerCommand,
  demoCommand,
  clientCommand,
  workerCommand,
  simulateCommand,
];
