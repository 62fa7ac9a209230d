import { useEffect, useState } from "preact/hooks";
import type { EntityView } from "../../protocol/api";
import { get, pageHref } from "../lib/api";

/**
 * The entity in a page's crumbs: a link to its page and whether it is a team or a user (asked of
 * `GET /api/v1/entities/:entity`, which anyone may ask of an entity whose page they can open).
 */
export function EntityCrumb({ entity }: { entity: string }) {
  const [kind, setKind] = useState<EntityView["kind"] | null>(null);
  useEffect(() => {
    get<EntityView>(`/entities/${encodeURIComponent(entity)}`).then((v) => setKind(v.kind), () => setKind(null));
  }, [entity]);
  return (
    <span class="entity-crumb">
      <a href={pageHref(entity)} data-entity-link>
        {entity}
      </a>
      {kind ? (
        <>
          {" "}
          <span class="kind" data-kind={kind}>
            {kind}
          </span>
        </>
      ) : null}
    </span>
  );
}
