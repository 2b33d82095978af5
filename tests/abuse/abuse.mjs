// Shared helpers for the abuse suite: everything from the integration
// helpers (start `wsjwt serve` on port 0, tokens, raw WebSocket framing),
// plus process figures from /proc, a pool of well-behaved clients that keep
// echoing while a test abuses the server, and the one summary line per case.
// Not a test file itself (no .test.mjs suffix).
import fs from 'node:fs';
import { connect, closed, BIN } from '../integration/lib.mjs';

export * from '../integration/lib.mjs';

// One line per case, grepped out of the ctest log by scripts/abuse-summary.sh.
export function summary(name, text) {
  console.log(`abuse: ${name}: ${text}`);
}

// User + system CPU time of a process in clock ticks (/proc/PID/stat 14, 15).
export function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

// Resident set size of a process in KiB.
export function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

// Address space of a process in KiB (VmSize): memory reserved, touched or not.
export function vmKiB(pid) {
  return Number(/VmSize:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

export function fdCount(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// Is the server under test built with AddressSanitizer? Its quarantine
// keeps freed memory resident on purpose, so RSS figures are checked only
// without it.
export const SERVER_ASAN = BIN ? fs.readFileSync(BIN).includes('__asan_init') : false;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The counters of the server's `event=stopped` line, as numbers.
export function stoppedCounters(stderr) {
  const line = stderr.split('\n').find((l) => l.includes('event=stopped'));
  const out = {};
  if (!line) return null;
  for (const m of line.matchAll(/(\w+)=(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

// Lines of a server's stderr that are not logfmt starting
// `ts=<UTC ms> level=<level> event=<name>` (docs/server.md, Logging).
export function nonLogfmtLines(stderr) {
  const re = /^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(error|warn|info|debug) event=[a-z_]+( [a-z_]+=("([^"\\]|\\.)*"|[^ "]+))*$/;
  return stderr.split('\n').filter((l) => l !== '' && !re.test(l));
}

// Sanitizer reports in a server's stderr (ASan, UBSan, LeakSanitizer).
export function sanitizerErrors(stderr) {
  return stderr.split('\n').filter((l) => /AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/.test(l));
}

// n authenticated `ws` clients, each echoing one numbered message at a time
// (waiting paceMs between an echo and the next send; ca: the CA for wss://)
// until stop(). Every
// mismatch, error or unexpected close is recorded.
export async function goodClients(url, n, tok, { paceMs = 0, ca } = {}) {
  const st = { echoed: 0, errors: [], running: true, clients: [] };
  for (let i = 0; i < n; i++) {
    const ws = await connect(url, ca ? { headers: { token: tok }, ca } : { headers: { token: tok } });
    let seq = 0;
    ws.on('message', (d) => {
      if (d.toString() !== `good ${i} ${seq}`) st.errors.push(`client ${i}: got ${d.toString().slice(0, 40)}`);
      else st.echoed++;
      seq++;
      const send = () => { if (st.running && ws.readyState === ws.OPEN) ws.send(`good ${i} ${seq}`); };
      if (paceMs) setTimeout(send, paceMs);
      else send();
    });
    ws.on('close', (code) => { if (st.running) st.errors.push(`client ${i}: closed ${code}`); });
    ws.on('error', (e) => st.errors.push(`client ${i}: ${e.message}`));
    ws.send(`good ${i} 0`);
    st.clients.push(ws);
  }
  st.stop = async () => {
    st.running = false;
    await Promise.all(st.clients.map((ws) => {
      if (ws.readyState === ws.CLOSED) return null;
      const p = closed(ws);
      ws.close(1000);
      return p;
    }));
  };
  return st;
}
