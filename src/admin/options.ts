import type { ListenerTls } from '../broker/options.js';

/** The admin listener: API, metrics and dashboard. Loopback only unless a token is set. */
export interface AdminOptions {
  enabled: boolean;
  host: string;
  port: number;
  /** Bearer token every call must carry; required when host is not a loopback address. */
  token: string | undefined;
  /** Serve the admin side over HTTPS (`admin.tls` in the file). */
  tls?: ListenerTls;
}

export const DEFAULT_ADMIN_OPTIONS: AdminOptions = {
  enabled: true,
  host: '127.0.0.1',
  port: 8001,
  token: undefined,
};
