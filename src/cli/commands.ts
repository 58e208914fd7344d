import type { Command } from 'commander';

type CommandFactory = () => Command;

/**
 * Every CLI command, one file each; adding one is a file and a line here. Each is loaded only when it
 * runs (or for the top-level help), so `timbang broker` does not carry the client's or the simulator's
 * modules in its memory.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  broker: async () => (await import('./broker.js')).brokerCommand,
  worker: async () => (await import('./worker.js')).workerCommand,
  client: async () => (await import('./client.js')).clientCommand,
  simulate: async () => (await import('./simulate.js')).simulateCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
};
