/**
 * Turns stored artifacts (store/artifact-store.ts) into the API shapes of protocol/artifacts.ts,
 * and decides which of them the asker may see: a member of an entity sees all of its projects'
 * versions and runs; anyone else a version only when a public run logged it, and a run only when
 * it is public (access.ts's one rule).
 */
import {
  versionRef,
  type ArtifactCollectionSummary,
  type ArtifactRunLink,
  type ArtifactVersionSummary,
} from "../../protocol/artifacts.js";
import { may, mayReadRun } from "./access.js";
import type { AppContext } from "./app-context.js";
import type { StoredArtifactCollection, StoredArtifactRunLink, StoredArtifactVersion } from "../store/artifact-store.js";
import type { EntityRole, StoredUser } from "../store/store.js";

export function toArtifactVersionSummary(v: StoredArtifactVersion): ArtifactVersionSummary {
  return {
    entity: v.entity,
    project: v.project,
    name: v.name,
    type: v.type,
    version: v.version,
    ref: versionRef(v.name, v.version),
    aliases: v.aliases,
    digest: v.digest,
    size: v.size,
    fileCount: v.fileCount,
    createdAt: v.createdAt,
  };
}

export function toArtifactCollectionSummary(c: StoredArtifactCollection): ArtifactCollectionSummary {
  return { name: c.name, type: c.type, versions: c.versions, latest: toArtifactVersionSummary(c.latest) };
}

export function toArtifactRunLink(r: StoredArtifactRunLink): ArtifactRunLink {
  return { entity: r.entity, project: r.project, id: r.id, name: r.name, state: r.state };
}

/**
 * The asker's role in entities by name, each looked up once per request: lineage and a run's
 * inputs name runs and versions of other entities than the route's.
 */
export class RoleCache {
  private readonly roles = new Map<string, Promise<EntityRole | null>>();

  constructor(
    private readonly ctx: AppContext,
    private readonly user: StoredUser | null,
  ) {}

  /** Seeds the role the access hook resolved for the route's own entity. */
  seed(entity: string, role: EntityRole | null): this {
    this.roles.set(entity, Promise.resolve(role));
    return this;
  }

  roleIn(entity: string): Promise<EntityRole | null> {
    let role = this.roles.get(entity);
    if (!role) {
      const user = this.user;
      role = user ? this.ctx.store.getEntity(entity).then((e) => (e ? this.ctx.store.roleIn(e, user.id) : null)) : Promise.resolve(null);
      this.roles.set(entity, role);
    }
    return role;
  }

  /** The runs of `links` the asker may read, in their order. */
  async readableRuns(links: StoredArtifactRunLink[]): Promise<ArtifactRunLink[]> {
    const ok = await Promise.all(links.map(async (r) => mayReadRun(r, await this.roleIn(r.entity))));
    return links.filter((_, i) => ok[i]).map(toArtifactRunLink);
  }

  /**
   * The versions of `versions` the asker may see, in their order: all of an entity they read,
   * and elsewhere those a public run logged (asked of the store, which knows the producers).
   */
  async visibleVersions(versions: StoredArtifactVersion[]): Promise<StoredArtifactVersion[]> {
    const ok = await Promise.all(
      versions.map(async (v) => {
        if (may(await this.roleIn(v.entity), "read")) return true;
        const entity = await this.ctx.store.getEntity(v.entity);
        if (!entity) return false;
        const shown = await this.ctx.store.getArtifactVersion({ entityId: entity.id, project: v.project }, v.name, `v${v.version}`, true);
        return shown?.id === v.id;
      }),
    );
    return versions.filter((_, i) => ok[i]);
  }
}
