// Telling systemd that the daemon is ready (the sd_notify protocol, for a `Type=notify` unit):
// READY=1 once every listener is bound and the spool is open. systemd passes its socket in
// $NOTIFY_SOCKET; without it (a terminal, a container) nothing is sent.
//
// Node has no unix datagram sockets, so the message is sent by systemd's own `systemd-notify`, which
// by default waits until the service manager has processed the message, so it is attributed to this
// unit even though it comes from a child process (the unit sets NotifyAccess=all for that). A
// failure is logged, never fatal: a service manager that never hears READY=1 times the start out.
import { execFile } from 'node:child_process';
import type { Logger } from '../platform/logger.js';

const NOTIFY_TIMEOUT_MS = 10_000;

export type NotifyReady = (status: string) => Promise<void>;

export function createReadyNotifier(logger: Logger, env: NodeJS.ProcessEnv = process.env, command = 'systemd-notify'): NotifyReady {
  if (!env['NOTIFY_SOCKET']) return () => Promise.resolve();
  return (status) =>
    new Promise((resolve) => {
      execFile(command, ['--ready', `--status=${status}`], { timeout: NOTIFY_TIMEOUT_MS, env }, (err, _stdout, stderr) => {
        if (err) logger.warn({ err, stderr: stderr.trim() }, 'cannot notify the service manager that smarthost is ready');
        else logger.debug('service manager notified: ready');
        resolve();
      });
    });
}
