/**
 * Random 32-bit words for run ids and names. Never from Math.random: programs seed it for
 * reproducible experiments (seedrandom, `node --random-seed`), and two runs with one seed would
 * get one id, the second taken for a resume of the first.
 *
 * /dev/urandom where there is one: reading a few bytes costs ~0.5 ms, where the first use of Web
 * Crypto loads Node.js's crypto modules, 2-3 ms of every process's first init(). Elsewhere
 * (Windows), Web Crypto.
 */
import { closeSync, openSync, readSync } from "node:fs";

/**
 * A ZeroMQ routing id for a client's connection to the daemon: 16 random bytes (22 characters,
 * base64url). The daemon knows a connection by it, so it must not be guessable: the ids a ROUTER
 * gives out itself are a counter from a fixed start (measured with zeromq 6.8: `00 6b8b4567`, then
 * +1, in every process), which let a peer without the token take over a closed connection's session.
 */
export function newRoutingId(): string {
  const words = randomWords(4);
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength).toString("base64url");
}

export function randomWords(n: number): Uint32Array {
  const words = new Uint32Array(n);
  try {
    const fd = openSync("/dev/urandom", "r");
    try {
      if (readSync(fd, words) === words.byteLength) return words;
    } finally {
      closeSync(fd);
    }
  } catch {
    // no /dev/urandom here: Web Crypto below
  }
  return globalThis.crypto.getRandomValues(words);
}
