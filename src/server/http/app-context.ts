/**
 * What every route needs, built once by buildApp: the store, the blob store (artifact bytes), the
 * clock (injectable, so tests of expiry and durations need no sleeping) and the public base URL
 * (known only after listen when the port is 0, hence a function).
 */
import type { FastifyRequest } from "fastify";
import { errors } from "../../protocol/errors.js";
import type { Access } from "./access.js";
import type { Principal } from "./auth.js";
import type { Store, StoredEntity, StoredRun, StoredUser } from "../store/store.js";
import type { BlobStore } from "../blobs/blob-store.js";
import { unavailableBlobStore } from "../blobs/unavailable-blob-store.js";

export class AppContext {
  readonly store: Store;
  /** Where artifact bytes live (blob-store.ts); an app built without one refuses the artifact routes. */
  readonly blobs: BlobStore;
  readonly now: () => number;
  private readonly baseUrl: () => string;

  constructor(store: Store, publicBaseUrl: string | (() => string), now: () => number, blobs: BlobStore = unavailableBlobStore) {
    this.store = store;
    this.blobs = blobs;
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

  /**
   * Who the request is, as the auth hook resolved it before the body was read (auth.ts). A route
   * declared `auth: "none"` has none: asking is a bug, not an anonymous request.
   */
  principal(req: FastifyRequest): Principal {
    if (!req.principal) throw errors.internal(`route ${req.routeOptions.url ?? req.url} asked who is calling but declares auth: "none"`);
    return req.principal;
  }

  /** The requesting user, or null when anonymous; a bad key was TRK_ERR_UNAUTHORIZED already. */
  async viewer(req: FastifyRequest): Promise<StoredUser | null> {
    return this.principal(req).user;
  }

  /** The requesting user; anonymous is TRK_ERR_UNAUTHORIZED. */
  async user(req: FastifyRequest): Promise<StoredUser> {
    const user = this.principal(req).user;
    if (!user) throw errors.unauthorized();
    return user;
  }

  /** What the access hook resolved for the request's route (access.ts). */
  access(req: FastifyRequest): Access {
    if (!req.access) throw errors.internal(`route ${req.routeOptions.url ?? req.url} was not resolved by the access hook`);
    return req.access;
  }

  /** The run of a `run:*` route, checked for the asker. */
  run(req: FastifyRequest): StoredRun {
    const run = this.access(req).run;
    if (!run) throw errors.internal(`route ${req.routeOptions.url ?? req.url} asked for a run but its access rule resolves none`);
    return run;
  }

  /** The entity of an `entity:*`, `project:*`, `run:*` or `team:*` route, checked for the asker. */
  entity(req: FastifyRequest): StoredEntity {
    const entity = this.access(req).entity;
    if (!entity) throw errors.internal(`route ${req.routeOptions.url ?? req.url} asked for an entity but its access rule resolves none`);
    return entity;
  }
}
