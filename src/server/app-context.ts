/**
 * What every route needs, built once by buildApp: the store, the clock (injectable, so tests of
 * expiry and durations need no sleeping) and the public base URL (known only after listen when
 * the port is 0, hence a function).
 */
import type { FastifyRequest } from "fastify";
import { requireUser, viewerOf } from "./auth.js";
import type { Store, StoredUser } from "./store.js";

export class AppContext {
  readonly store: Store;
  readonly now: () => number;
  private readonly baseUrl: () => string;

  constructor(store: Store, publicBaseUrl: string | (() => string), now: () => number) {
    this.store = store;
    this.now = now;
    this.baseUrl = typeof publicBaseUrl === "function" ? publicBaseUrl : () => publicBaseUrl;
  }

  /** The URL people open, without a trailing slash. */
  publicBaseUrl(): string {
    return this.baseUrl().replace(/\/+$/, "");
  }

  /** Cookies get the Secure flag when people reach the server over https. */
  secureCookies(): boolean {
    return this.publicBaseUrl().startsWith("https:");
  }

  /** The requesting user, or null when anonymous; a bad key is TRK_ERR_UNAUTHORIZED. */
  viewer(req: FastifyRequest): Promise<StoredUser | null> {
    return viewerOf(this.store, req, this.now());
  }

  /** The requesting user; anonymous is TRK_ERR_UNAUTHORIZED. */
  user(req: FastifyRequest): Promise<StoredUser> {
    return requireUser(this.store, req, this.now());
  }
}
